import { useState } from "react";
import { pluginCall } from "../api";
import { Alert, Loading, message, useLoad, when } from "../ui";

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

/** Administrators: players' trust scores, violations and sanctions; lifting a ban. */
export function Anticheat() {
  const { data, error, loading, reload } = useLoad(() => pluginCall<PlayerRecord[]>("anticheat", "players"));
  const [status, setStatus] = useState<string | null>(null);
  const [failed, setFailed] = useState<string | null>(null);

  const lift = async (p: PlayerRecord) => {
    setStatus(null);
    setFailed(null);
    try {
      await pluginCall("anticheat", "lift_ban", { player: p.player });
      setStatus(`Lifted the ban on ${p.name || p.player}; their trust score starts again at 0.`);
      reload();
    } catch (e) {
      setFailed(message(e));
    }
  };

  return (
    <section>
      <h1>Anticheat</h1>
      <p className="muted">
        Every input of every match is checked on the server. A violation ignores the input (a movement violation also sets
        the player back) and raises the player's trust score, which halves every 20 seconds. High scores are kicked, then
        banned for a while.
      </p>
      <button type="button" onClick={reload} disabled={loading}>
        Refresh
      </button>
      <Alert kind="ok">{status}</Alert>
      <Alert kind="error">{failed ?? error}</Alert>
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
                          <button type="button" onClick={() => lift(p)} aria-label={`Lift the ban on ${p.name || p.player}`}>
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
