import { useMutation, useQuery } from "@tanstack/react-query";
import { isRouteErrorResponse, Outlet, useRouteError, type RouteObject } from "react-router";
import { call } from "./api";
import { adminLoader, linkTokenLoader, notFoundLoader, rootLoader } from "./loaders";
import { sessionQuery, setupQuery, UserProvider, useSignedOut } from "./session";
import { Alert, Link, Loading, message } from "./ui";
import { ForgotPassword, Login, ResetPassword, Setup, Signup, VerifyEmail } from "./pages/Auth";
import { Profile, Sessions } from "./pages/Account";
import { Plugins } from "./pages/Plugins";
import { Database } from "./pages/Database";
import { Audit } from "./pages/Audit";
import { Play } from "./pages/Play";
import { Anticheat } from "./pages/Anticheat";
import { Chat } from "./pages/Chat";
import { Agents } from "./pages/Agents";
import { ChatProviders } from "./pages/ChatProviders";

/**
 * Every page and who may see it. The root loader sends each navigation where it belongs (see
 * loaders.ts) before anything renders, so it runs again on every navigation (the session it reads
 * is cached).
 */
export const routes: RouteObject[] = [
  {
    path: "/",
    element: <Layout />,
    loader: rootLoader,
    shouldRevalidate: () => true,
    hydrateFallbackElement: <Loading what="a2e" />,
    errorElement: <RouteError />,
    children: [
      { path: "setup", element: <Setup /> },
      { path: "login", element: <Login /> },
      { path: "signup", element: <Signup /> },
      { path: "verify-email", element: <VerifyEmail />, loader: linkTokenLoader },
      { path: "forgot-password", element: <ForgotPassword /> },
      { path: "reset-password", element: <ResetPassword />, loader: linkTokenLoader },
      {
        element: <SignedIn />,
        children: [
          { path: "profile", element: <Profile /> },
          { path: "sessions", element: <Sessions /> },
          { path: "plugins", element: <Plugins /> },
          { path: "play", element: <Play /> },
          { path: "chat", element: <Chat /> },
          { path: "agents", element: <Agents /> },
          {
            loader: adminLoader,
            shouldRevalidate: () => true,
            children: [
              { path: "database", element: <Database /> },
              { path: "audit", element: <Audit /> },
              { path: "anticheat", element: <Anticheat /> },
              { path: "chat-providers", element: <ChatProviders /> },
            ],
          },
        ],
      },
      { path: "*", loader: notFoundLoader },
    ],
  },
];

function Layout() {
  const { data: user } = useQuery(sessionQuery);
  const { data: setup } = useQuery(setupQuery);
  const signedOut = useSignedOut();
  const logout = useMutation({ mutationFn: () => call("logout"), onSettled: signedOut });
  return (
    <>
      <header>
        <strong className="brand">a2e</strong>
        <nav aria-label="Main">
          {user ? (
            <>
              <Link to="/play">Play</Link>
              <Link to="/chat">Chat</Link>
              <Link to="/agents">Agents</Link>
              <Link to="/profile">Profile</Link>
              <Link to="/sessions">Sessions</Link>
              <Link to="/plugins">Plugins</Link>
              {user.role === "admin" && (
                <>
                  <Link to="/database">Database</Link>
                  <Link to="/audit">Audit log</Link>
                  <Link to="/anticheat">Anticheat</Link>
                  <Link to="/chat-providers">Chat providers</Link>
                </>
              )}
              <button type="button" className="link" onClick={() => logout.mutate()}>
                Log out
              </button>
            </>
          ) : setup?.needs_setup ? null : (
            <>
              <Link to="/login">Log in</Link>
              <Link to="/signup">Sign up</Link>
            </>
          )}
        </nav>
      </header>
      <main>
        <Outlet />
      </main>
    </>
  );
}

/** The pages that need a signed-in user: they get it from `useUser`. */
function SignedIn() {
  const { data: user } = useQuery(sessionQuery);
  if (!user) return <Loading what="page" />;
  return (
    <UserProvider user={user}>
      <Outlet />
    </UserProvider>
  );
}

/** What a loader or page threw that nothing else caught. */
function RouteError() {
  const error = useRouteError();
  return (
    <main>
      <Alert kind="error">{isRouteErrorResponse(error) ? `${error.status} ${error.statusText}` : message(error)}</Alert>
    </main>
  );
}
