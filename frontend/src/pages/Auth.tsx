import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { useLoaderData, useNavigate } from "react-router";
import { call, type LoginResult } from "../api";
import { useSignedIn } from "../session";
import { Alert, Field, Form, Link, Loading, message, str } from "../ui";

export function Setup() {
  const onDone = useSignedIn();
  return (
    <section>
      <h1>Welcome to a2e</h1>
      <p>Create the first administrator account. It can install plugins, manage grants and back up the database.</p>
      <Form
        label="Create the administrator"
        submit="Create administrator"
        onSubmit={async (d) => {
          const r = await call<LoginResult>("setup", { name: str(d, "name"), email: str(d, "email"), password: str(d, "password") });
          await onDone(r.user);
        }}
      >
        <Field label="Name" name="name" autoComplete="name" />
        <Field label="Email" name="email" type="email" autoComplete="email" />
        <Field label="Password (at least 8 characters)" name="password" type="password" autoComplete="new-password" minLength={8} />
      </Form>
    </section>
  );
}

export function Login() {
  const onDone = useSignedIn();
  return (
    <section>
      <h1>Log in</h1>
      <Form
        label="Log in"
        submit="Log in"
        onSubmit={async (d) => {
          const r = await call<LoginResult>("login", { email: str(d, "email"), password: str(d, "password") });
          await onDone(r.user);
        }}
      >
        <Field label="Email" name="email" type="email" autoComplete="username" />
        <Field label="Password" name="password" type="password" autoComplete="current-password" />
      </Form>
      <p>
        <Link to="/forgot-password">Forgot your password?</Link> · <Link to="/signup">Create an account</Link>
      </p>
    </section>
  );
}

export function Signup() {
  const [sentTo, setSentTo] = useState<string | null>(null);
  if (sentTo)
    return (
      <section>
        <h1>Check your email</h1>
        <Alert kind="ok">We sent a verification link to {sentTo}. Open it to confirm your address, then log in.</Alert>
        <p>
          <Link to="/login">Go to log in</Link>
        </p>
      </section>
    );
  return (
    <section>
      <h1>Sign up</h1>
      <Form
        label="Sign up"
        submit="Create account"
        onSubmit={async (d) => {
          await call("signup", { name: str(d, "name"), email: str(d, "email"), password: str(d, "password") });
          setSentTo(str(d, "email"));
        }}
      >
        <Field label="Name" name="name" autoComplete="name" />
        <Field label="Email" name="email" type="email" autoComplete="email" />
        <Field label="Password (at least 8 characters)" name="password" type="password" autoComplete="new-password" minLength={8} />
      </Form>
      <p>
        Already have an account? <Link to="/login">Log in</Link>
      </p>
    </section>
  );
}

export function VerifyEmail() {
  const token = useLoaderData<string | null>();
  // Verifying is a query of the page's token: run once, however often the page renders.
  const verify = useQuery({
    queryKey: ["verify_email", token],
    queryFn: () => call("verify_email", { token }),
    enabled: !!token,
    staleTime: Infinity,
  });
  const state = !token || verify.isError ? "failed" : verify.isSuccess ? "done" : "working";
  const error = !token ? "This page needs the link from your verification email." : verify.error && message(verify.error);
  return (
    <section>
      <h1>Verify your email</h1>
      {state === "working" && <Loading what="verification" />}
      {state === "done" && <Alert kind="ok">Your email address is verified. You can log in now.</Alert>}
      <Alert kind="error">{error}</Alert>
      {state === "failed" && <Resend />}
      <p>
        <Link to="/login">Go to log in</Link>
      </p>
    </section>
  );
}

function Resend() {
  return (
    <Form
      label="Send a new verification link"
      submit="Send a new link"
      onSubmit={async (d) => {
        await call("resend_verification", { email: str(d, "email") });
        return "If that address has an unverified account, a new link is on its way.";
      }}
    >
      <Field label="Email" name="email" type="email" autoComplete="email" />
    </Form>
  );
}

export function ForgotPassword() {
  return (
    <section>
      <h1>Forgot your password?</h1>
      <Form
        label="Request a password reset"
        submit="Send reset link"
        onSubmit={async (d) => {
          await call("password_reset_request", { email: str(d, "email") });
          return "If an account uses that address, a reset link is on its way. It works for one hour.";
        }}
      >
        <Field label="Email" name="email" type="email" autoComplete="email" />
      </Form>
    </section>
  );
}

export function ResetPassword() {
  const token = useLoaderData<string | null>();
  const navigate = useNavigate();
  const [done, setDone] = useState(false);
  if (!token) return <Alert kind="error">This page needs the link from your password-reset email.</Alert>;
  return (
    <section>
      <h1>Choose a new password</h1>
      {done ? (
        <>
          <Alert kind="ok">Your password is changed and every session was signed out.</Alert>
          <button type="button" onClick={() => navigate("/login")}>
            Log in
          </button>
        </>
      ) : (
        <Form
          label="Set a new password"
          submit="Set password"
          onSubmit={async (d) => {
            await call("password_reset_confirm", { token, password: str(d, "password") });
            setDone(true);
          }}
        >
          <Field label="New password (at least 8 characters)" name="password" type="password" autoComplete="new-password" minLength={8} />
        </Form>
      )}
    </section>
  );
}
