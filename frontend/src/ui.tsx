// Small shared pieces: links, forms, messages.
import type { ReactNode } from "react";
import { useMutation } from "@tanstack/react-query";
import { NavLink } from "react-router";
import { ApiError } from "./api";

/** A link of the app: the router follows it, and it is marked as the current page on its own path. */
export function Link({ to, children }: { to: string; children: ReactNode }) {
  return (
    <NavLink to={to} end>
      {children}
    </NavLink>
  );
}

export function message(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  return e instanceof Error ? e.message : String(e);
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

/** A form that disables itself while submitting and shows the outcome (a string `onSubmit` returns). */
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
  const submitting = useMutation({ mutationFn: onSubmit });
  const busy = submitting.isPending;
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        submitting.mutate(new FormData(e.currentTarget));
      }}
      aria-label={label}
      aria-busy={busy}
    >
      <fieldset disabled={busy}>
        {children}
        <button type="submit">{busy ? "Working…" : submit}</button>
      </fieldset>
      <Alert kind="error">{submitting.error && message(submitting.error)}</Alert>
      <Alert kind="ok">{submitting.data || null}</Alert>
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
