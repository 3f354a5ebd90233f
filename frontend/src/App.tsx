import { useEffect, useState } from "react";
import { call, type User } from "./api";
import { Link, Loading, navigate, usePath } from "./ui";
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

const PUBLIC = ["/login", "/signup", "/verify-email", "/forgot-password", "/reset-password", "/setup"];

export function App() {
  const path = usePath();
  const [user, setUser] = useState<User | null>(null);
  const [checked, setChecked] = useState(false);
  const [needsSetup, setNeedsSetup] = useState(false);

  useEffect(() => {
    Promise.all([
      call<{ needs_setup: boolean }>("setup_status").catch(() => ({ needs_setup: false })),
      call<{ user: User }>("session").then((s) => s.user).catch(() => null),
    ]).then(([setup, u]) => {
      setNeedsSetup(setup.needs_setup);
      setUser(u);
      setChecked(true);
    });
  }, []);

  useEffect(() => {
    if (!checked) return;
    if (needsSetup && path !== "/setup") navigate("/setup");
    else if (!user && !PUBLIC.includes(path)) navigate("/login");
    else if (user && (path === "/" || path === "/login" || path === "/signup" || path === "/setup")) navigate("/profile");
  }, [checked, needsSetup, user, path]);

  const signedIn = (u: User) => {
    setNeedsSetup(false);
    setUser(u);
    navigate("/profile");
  };
  const signedOut = () => {
    setUser(null);
    navigate("/login");
  };

  if (!checked) return <Loading what="a2e" />;

  let page;
  switch (path) {
    case "/setup":
      page = <Setup onDone={signedIn} />;
      break;
    case "/signup":
      page = <Signup />;
      break;
    case "/verify-email":
      page = <VerifyEmail />;
      break;
    case "/forgot-password":
      page = <ForgotPassword />;
      break;
    case "/reset-password":
      page = <ResetPassword />;
      break;
    case "/profile":
      page = user && <Profile user={user} onChange={setUser} onSignedOut={signedOut} />;
      break;
    case "/sessions":
      page = user && <Sessions onSignedOut={signedOut} />;
      break;
    case "/plugins":
      page = user && <Plugins admin={user.role === "admin"} />;
      break;
    case "/database":
      page = user && <Database />;
      break;
    case "/audit":
      page = user && <Audit />;
      break;
    case "/play":
      page = user && <Play user={user} />;
      break;
    case "/anticheat":
      page = user && <Anticheat />;
      break;
    case "/chat":
      page = user && <Chat user={user} />;
      break;
    case "/agents":
      page = user && <Agents user={user} />;
      break;
    case "/chat-providers":
      page = user && <ChatProviders />;
      break;
    default:
      page = user ? null : <Login onDone={signedIn} />;
  }

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
              <button
                type="button"
                className="link"
                onClick={() => call("logout").catch(() => undefined).finally(signedOut)}
              >
                Log out
              </button>
            </>
          ) : needsSetup ? null : (
            <>
              <Link to="/login">Log in</Link>
              <Link to="/signup">Sign up</Link>
            </>
          )}
        </nav>
      </header>
      <main>{page ?? <Loading what="page" />}</main>
    </>
  );
}
