// Small shared pieces: navigation, async state, forms, messages.
import { useCallback, useEffect, useState, type FormEvent, type ReactNode } from "react";
import { ApiError } from "./api";

export function navigate(to: string) {
  history.pushState(null, "", to);
  dispatchEvent(new PopStateEvent("popstate"));
}

export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const on = () => setPath(location.pathname);
    addEventListener("popstate", on);
    return () => removeEventListener("popstate", on);
  }, []);
  return path;
}

export function Link({ to, children }: { to: string; children: ReactNode }) {
  const current = usePath() === to;
  return (
    <a
      href={to}
      aria-current={current ? "page" : undefined}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

export function message(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  return e instanceof Error ? e.message : String(e);
}

/** Loads data on mount (and on `reload`), tracking loading and error states. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const reload = useCallback(() => {
    setLoading(true);
    load()
      .then((d) => {
        setData(d);
        setError(null);
      })
      .catch((e) => setError(message(e)))
      .finally(() => setLoading(false));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(reload, [reload]);
  return { data, error, loading, reload, setData };
}

export function Alert({ kind, children }: { kind: "error" | "ok" | "info"; children: ReactNode }) {
  if (!children) return null;
  return (
    <p className={`alert ${kind}`} role={kind === "error" ? "alert" : "status"}>
      {children}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

/** A form that disables itself while submitting and shows the outcome. */
export function Form({
  onSubmit,
  submit,
  children,
  label,
}: {
  onSubmit: (data: FormData) => Promise<string | void>;
  submit: string;
  children: ReactNode;
  label: string;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [ok, setOk] = useState<string | null>(null);
  const handle = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setOk(null);
    try {
      const done = await onSubmit(new FormData(e.currentTarget));
      if (done) setOk(done);
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={handle} aria-label={label} aria-busy={busy}>
      <fieldset disabled={busy}>
        {children}
        <button type="submit">{busy ? "Working…" : submit}</button>
      </fieldset>
      <Alert kind="error">{error}</Alert>
      <Alert kind="ok">{ok}</Alert>
    </form>
  );
}

export function Field({
  label,
  name,
  type = "text",
  autoComplete,
  required = true,
  defaultValue,
  minLength,
}: {
  label: string;
  name: string;
  type?: string;
  autoComplete?: string;
  required?: boolean;
  defaultValue?: string;
  minLength?: number;
}) {
  const id = `f-${name}`;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        name={name}
        type={type}
        autoComplete={autoComplete}
        required={required}
        defaultValue={defaultValue}
        minLength={minLength}
      />
    </div>
  );
}

export const str = (d: FormData, k: string) => String(d.get(k) ?? "");

export function when(ms: number): string {
  return new Date(ms).toLocaleString();
}

/** The token a link from an email carries, removed from the address bar once read. */
let linkToken: { path: string; token: string } | null = null;
export function takeLinkToken(): string | null {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  if (token) {
    linkToken = { path: location.pathname, token };
    history.replaceState(null, "", location.pathname);
  }
  return linkToken?.path === location.pathname ? linkToken.token : null;
}
