import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { pluginCall } from "../api";
import { pluginQuery } from "../query";
import { Alert, Loading, message, when } from "../ui";

interface Sanction {
  kind: string;
  violation: string;
  match: string;
  score: number;
  at: number;
}

interface PlayerRecord {
  player: string;
  name: string;
  score: number;
  violations: Record<string, number>;
  sanctions: Sanction[];
  kicks: number;
  banned_until: number | null;
}

const playersQuery = pluginQuery<PlayerRecord[]>("anticheat", "players");

/** Administrators: players' trust scores, violations and sanctions; lifting a ban. */
export function Anticheat() {
  const client = useQueryClient();
  const players = useQuery(playersQuery);
  const { data, error, isFetching: loading } = players;
  const lift = useMutation({
    mutationFn: (p: PlayerRecord) => pluginCall("anticheat", "lift_ban", { player: p.player }),
    onSuccess: () => client.invalidateQueries({ queryKey: playersQuery.queryKey }),
  });
  const status = lift.isSuccess ? `Lifted the ban on ${lift.variables.name || lift.variables.player}; their trust score starts again at 0.` : null;
  const failed = lift.error ?? error;

  return (
    <section>
      <h1>Anticheat</h1>
      <p className="muted">
        Every input of every match is checked on the server. A violation ignores the input (a movement violation also sets
        the player back) and raises the player's trust score, which halves every 20 seconds. High scores are kicked, then
        banned for a while.
      </p>
      <button type="button" onClick={() => players.refetch()} disabled={loading}>
        Refresh
      </button>
      <Alert kind="ok">{status}</Alert>
      <Alert kind="error">{failed && message(failed)}</Alert>
      {loading && !data && <Loading what="players" />}
      {data?.length === 0 && <p className="muted">No player has broken a rule yet.</p>}
      {data && data.length > 0 && (
        <div className="table-wrap">
          <table aria-label="Players anticheat knows">
            <thead>
              <tr>
                <th scope="col">Player</th>
                <th scope="col">Trust score</th>
                <th scope="col">Violations</th>
                <th scope="col">Last sanction</th>
                <th scope="col">Ban</th>
              </tr>
            </thead>
            <tbody>
              {data.map((p) => {
                const last = p.sanctions[p.sanctions.length - 1];
                return (
                  <tr key={p.player}>
                    <td>
                      {p.name || "player"} <code className="hash">{p.player}</code>
                    </td>
                    <td>{p.score.toFixed(2)}</td>
                    <td>
                      {Object.entries(p.violations)
                        .map(([k, n]) => `${k} ×${n}`)
                        .join(", ")}
                    </td>
                    <td>{last ? `${last.kind} (${last.violation}), ${when(last.at)}` : "—"}</td>
                    <td>
                      {p.banned_until ? (
                        <>
                          until {when(p.banned_until)}{" "}
                          <button type="button" onClick={() => lift.mutate(p)} aria-label={`Lift the ban on ${p.name || p.player}`}>
                            Lift ban
                          </button>
                        </>
                      ) : (
                        "—"
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
