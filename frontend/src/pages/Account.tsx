import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { call, type SessionItem, type User } from "../api";
import { commandQuery } from "../query";
import { useSetUser, useSignedOut, useUser } from "../session";
import { Alert, Field, Form, Loading, message, str, when } from "../ui";

export function Profile() {
  const user = useUser();
  const onChange = useSetUser();
  const onSignedOut = useSignedOut();
  return (
    <section>
      <h1>Profile</h1>
      <dl className="facts">
        <dt>Email</dt>
        <dd>
          {user.email} {user.email_verified ? <span className="badge ok">verified</span> : <span className="badge warn">not verified</span>}
        </dd>
        <dt>Role</dt>
        <dd>{user.role}</dd>
        <dt>Member since</dt>
        <dd>{when(user.created_at)}</dd>
      </dl>
      <h2>Edit profile</h2>
      <Form
        label="Edit profile"
        submit="Save"
        onSubmit={async (d) => {
          const u = await call<User>("update_profile", { name: str(d, "name"), bio: str(d, "bio") || null });
          onChange(u);
          return "Saved.";
        }}
      >
        <Field label="Name" name="name" defaultValue={user.name} autoComplete="name" />
        <div className="field">
          <label htmlFor="f-bio">About you</label>
          <textarea id="f-bio" name="bio" defaultValue={user.bio ?? ""} maxLength={1000} rows={3} />
        </div>
      </Form>
      <h2>Change password</h2>
      <p className="muted">Changing your password signs out every session, this one included.</p>
      <Form
        label="Change password"
        submit="Change password"
        onSubmit={async (d) => {
          await call("change_password", { current_password: str(d, "current_password"), new_password: str(d, "new_password") });
          await onSignedOut();
        }}
      >
        <Field label="Current password" name="current_password" type="password" autoComplete="current-password" />
        <Field label="New password" name="new_password" type="password" autoComplete="new-password" minLength={8} />
      </Form>
    </section>
  );
}

export function Sessions() {
  const onSignedOut = useSignedOut();
  const client = useQueryClient();
  const sessions = useQuery(commandQuery<SessionItem[]>("sessions"));
  const revoke = useMutation({
    mutationFn: (s: SessionItem) => call("revoke_session", { id: s.id }),
    onSuccess: (_, s) => (s.current ? onSignedOut() : client.invalidateQueries({ queryKey: ["sessions"] })),
  });
  const logoutAll = useMutation({ mutationFn: () => call("logout_all"), onSuccess: onSignedOut });
  const { data, error, isPending: loading } = sessions;
  const failure = error ?? revoke.error ?? logoutAll.error;
  return (
    <section>
      <h1>My sessions</h1>
      {loading && !data && <Loading what="sessions" />}
      <Alert kind="error">{failure && message(failure)}</Alert>
      {data && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Session</th>
                <th scope="col">Started</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.map((s) => (
                <tr key={s.id}>
                  <td>
                    <code>{s.id}</code> {s.current && <span className="badge ok">this device</span>}
                  </td>
                  <td>{when(s.created_at)}</td>
                  <td>{when(s.last_seen_at)}</td>
                  <td>{when(s.expires_at)}</td>
                  <td>
                    <button type="button" onClick={() => revoke.mutate(s)} aria-label={`Revoke session ${s.id}`}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <button type="button" className="danger" onClick={() => logoutAll.mutate()}>
        Log out everywhere
      </button>
    </section>
  );
}
