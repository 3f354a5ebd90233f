// Browser end-to-end test of a2e in Debian's Chromium, driven by playwright-core.
//
//   node e2e/run.mjs <server url> <data dir> <template plugin dir> <artifacts dir>
//
// The server must be a fresh `a2e serve` on <data dir>; the template plugin dir holds the
// plugin.json and template.wasm written by `a2e plugin build plugins/template`. Screenshots of
// every step go to <artifacts dir>.
import { chromium } from "playwright-core";
import { readdirSync, readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const [base, dataDir, templateDir, artifacts] = process.argv.slice(2);
if (!artifacts) {
  console.error("usage: node e2e/run.mjs <server url> <data dir> <template plugin dir> <artifacts dir>");
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });

const executablePath = process.env.A2E_CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

let step = 0;
let current = null;
async function shot(page, name) {
  step += 1;
  await page.screenshot({ path: join(artifacts, `${String(step).padStart(2, "0")}-${name}.png`), fullPage: true });
}

function mailLink(to, path) {
  const dir = join(dataDir, "outbox");
  const files = readdirSync(dir).sort().reverse();
  for (const f of files) {
    const text = readFileSync(join(dir, f), "utf8");
    if (!text.includes(`To: ${to}`)) continue;
    const m = text.match(new RegExp(`(https?://[^\\s]+${path}\\?token=[A-Za-z0-9_-]+)`));
    if (m) return m[1];
  }
  throw new Error(`no mail to ${to} with a ${path} link in ${dir}`);
}

async function waitForMail(to, path) {
  for (let i = 0; i < 100; i++) {
    try {
      return mailLink(to, path);
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return mailLink(to, path);
}


// The arena's text view: where a player is, and where the coins are.
async function whereIs(page, selector) {
  const li = page.locator(`ul[aria-label="Positions"] li${selector}`).first();
  await li.waitFor({ state: "attached" });
  return { x: Number(await li.getAttribute("data-x")), y: Number(await li.getAttribute("data-y")) };
}

async function coinsOn(page) {
  const items = page.locator('ul[aria-label="Coins"] li');
  const out = [];
  for (let i = 0; i < (await items.count()); i++) {
    out.push({ x: Number(await items.nth(i).getAttribute("data-x")), y: Number(await items.nth(i).getAttribute("data-y")) });
  }
  return out;
}

async function score(page) {
  const text = (await page.getByRole("status").filter({ hasText: "Time left" }).textContent()) ?? "";
  const m = text.match(/Your score (\d+)/);
  return m ? Number(m[1]) : 0;
}

async function hold(page, keys, ms) {
  for (const k of keys) await page.keyboard.down(k);
  await page.waitForTimeout(ms);
  for (const k of keys) await page.keyboard.up(k);
}

/** Steers your player to coins with the keyboard until you score (or time runs out). */
async function collectACoin(page, seconds) {
  const until = Date.now() + seconds * 1000;
  let last = null;
  let stuck = 0;
  while (Date.now() < until) {
    if ((await score(page)) > 0) return true;
    const me = await whereIs(page, '[data-me="yes"]');
    const coins = await coinsOn(page);
    if (coins.length === 0) {
      await page.waitForTimeout(200);
      continue;
    }
    const target = coins.reduce((a, b) => (Math.hypot(a.x - me.x, a.y - me.y) <= Math.hypot(b.x - me.x, b.y - me.y) ? a : b));
    const dx = target.x - me.x;
    const dy = target.y - me.y;
    stuck = last && Math.hypot(last.x - me.x, last.y - me.y) < 3 ? stuck + 1 : 0;
    last = me;
    if (stuck >= 2) {
      // A wall is in the way: go around it.
      await hold(page, [Math.abs(dx) > Math.abs(dy) ? (me.y > 320 ? "ArrowDown" : "ArrowUp") : me.x > 480 ? "ArrowRight" : "ArrowLeft"], 500);
      stuck = 0;
      continue;
    }
    const keys = [];
    if (Math.abs(dx) > 6) keys.push(dx > 0 ? "ArrowRight" : "ArrowLeft");
    if (Math.abs(dy) > 6) keys.push(dy > 0 ? "ArrowDown" : "ArrowUp");
    if (keys.length === 0) keys.push("ArrowRight");
    await hold(page, keys, Math.min(400, Math.max(80, (Math.hypot(dx, dy) / 180) * 1000)));
  }
  return (await score(page)) > 0;
}

const admin = { name: "Admin", email: "admin@example.com", password: "correct horse battery staple" };
const user = { name: "Second", email: "second@example.com", password: "another fine password" };

try {
  // 1. First-run setup creates the administrator.
  const adminContext = await browser.newContext();
  const page = (current = await adminContext.newPage());
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(base + "/");
  await page.getByRole("heading", { name: "Welcome to a2e", exact: true }).waitFor();
  await shot(page, "setup");
  await page.getByLabel("Name").fill(admin.name);
  await page.getByLabel("Email").fill(admin.email);
  await page.getByLabel("Password (at least 8 characters)").fill(admin.password);
  await page.getByRole("button", { name: "Create administrator" }).click();
  await page.getByRole("heading", { name: "Profile", exact: true }).waitFor();
  await page.getByText("admin", { exact: true }).waitFor();
  await shot(page, "admin-profile");

  // 2. A second person signs up in their own browser.
  const userContext = await browser.newContext();
  const other = (current = await userContext.newPage());
  await other.goto(base + "/signup");
  await other.getByRole("heading", { name: "Sign up", exact: true }).waitFor();
  await other.getByLabel("Name").fill(user.name);
  await other.getByLabel("Email").fill(user.email);
  await other.getByLabel("Password (at least 8 characters)").fill(user.password);
  await other.getByRole("button", { name: "Create account" }).click();
  await other.getByRole("heading", { name: "Check your email", exact: true }).waitFor();
  await shot(other, "signup-sent");

  // 3. They open the verification link from the outbox.
  const link = await waitForMail(user.email, "/verify-email");
  if (!link.startsWith(base)) throw new Error(`the link ${link} does not use the server's public URL ${base}`);
  await other.goto(link);
  await other.getByText("Your email address is verified").waitFor();
  if (new URL(other.url()).search !== "") throw new Error(`the token stayed in the address bar: ${other.url()}`);
  await shot(other, "verified");

  // 4. They log in and see a verified profile.
  await other.goto(base + "/login");
  await other.getByLabel("Email").fill(user.email);
  await other.getByLabel("Password").fill(user.password);
  await other.getByRole("button", { name: "Log in" }).click();
  await other.getByRole("heading", { name: "Profile", exact: true }).waitFor();
  await other.getByText("verified", { exact: true }).waitFor();
  await shot(other, "user-profile");
  // At phone width nothing overflows sideways.
  await other.setViewportSize({ width: 375, height: 740 });
  const overflow = await other.evaluate(() => document.scrollingElement.scrollWidth - window.innerWidth);
  await shot(other, "user-profile-phone");
  if (overflow > 1) throw new Error(`the profile page overflows a 375px screen by ${overflow}px`);
  // Regular users see no admin pages.
  if ((await other.getByRole("link", { name: "Database" }).count()) !== 0) throw new Error("a regular user sees the Database page");

  // 5. The administrator installs the template plugin.
  current = page;
  await page.getByRole("link", { name: "Plugins" }).click();
  await page.getByRole("heading", { name: "Plugins", exact: true }).waitFor();
  await page.getByText("Install a plugin").click();
  await page.getByLabel("Module (.wasm)").setInputFiles(join(templateDir, "template.wasm"));
  await page.getByLabel("Manifest (plugin.json, optional)").setInputFiles(join(templateDir, "plugin.json"));
  await page.getByRole("button", { name: "Install", exact: true }).click();
  await page.getByText(/Installed template .* with grants: log, time/).waitFor();
  await shot(page, "installed");

  // 6. ... and calls it in the playground.
  const details = page.getByRole("article", { name: "Plugin template" });
  await details.waitFor();
  await details.getByLabel("Function").selectOption("greet");
  await details.getByLabel("Input (JSON)").fill('{"name": "e2e"}');
  await details.getByRole("button", { name: "Call" }).click();
  await details.getByLabel("Call output").filter({ hasText: "Hello, e2e!" }).waitFor();
  await shot(page, "called");

  // 7. Revoking the `time` grant makes the next call fail with PERMISSION_DENIED.
  await details.getByRole("button", { name: "Revoke time" }).click();
  await details.getByRole("button", { name: "Revoke time" }).waitFor({ state: "detached" });
  await details.getByRole("button", { name: "Call" }).click();
  await details.getByLabel("Call output").filter({ hasText: "PERMISSION_DENIED" }).waitFor();
  await shot(page, "denied");

  // 8. The game: the administrator opens a match, the second person joins it from the lobby.
  await page.getByRole("link", { name: "Play" }).click();
  await page.getByRole("heading", { name: "Play", exact: true }).waitFor();
  await shot(page, "lobby");
  await page.getByText("Create a match").click();
  await page.getByLabel("Name (optional)").fill("E2E arena");
  await page.getByLabel("Players (2 to 32)").fill("2");
  await page.getByLabel("Length in seconds (10 to 1800)").fill("60");
  await page.getByRole("button", { name: "Create and join" }).click();
  await page.getByRole("heading", { name: "E2E arena", exact: true }).waitFor();
  current = other;
  await other.setViewportSize({ width: 1100, height: 900 });
  await other.getByRole("link", { name: "Play" }).click();
  await other.getByRole("button", { name: "Join E2E arena" }).click();
  await other.getByRole("heading", { name: "E2E arena", exact: true }).waitFor();
  // Both see both players.
  await page.locator('ul[aria-label="Positions"] li[data-me="no"]').waitFor({ state: "attached" });
  await other.locator(`ul[aria-label="Positions"] li[data-player="${admin.name}"]`).waitFor({ state: "attached" });
  await shot(other, "joined");

  // 9. The administrator moves; the other player sees it.
  current = page;
  await page.locator("canvas.arena").click();
  const seenBefore = await whereIs(other, `[data-player="${admin.name}"]`);
  const before = await whereIs(page, '[data-me="yes"]');
  await hold(page, [before.x > 480 ? "ArrowLeft" : "ArrowRight"], 600);
  let seenAfter = seenBefore;
  for (let i = 0; i < 40 && seenAfter.x === seenBefore.x; i++) {
    await other.waitForTimeout(100);
    seenAfter = await whereIs(other, `[data-player="${admin.name}"]`);
  }
  if (seenAfter.x === seenBefore.x) throw new Error(`the other player never saw the administrator move from ${seenBefore.x}`);
  await shot(other, "saw-move");

  // 10. ... and picks up a coin: a point on the scoreboard.
  if (!(await collectACoin(page, 35))) throw new Error("the administrator did not manage to pick up a coin in 35 s");
  await shot(page, "scored");

  // 11. A tampered client (its code changed to claim 5 s of movement in one input) is set back.
  current = other;
  await other.locator("canvas.arena").click();
  await other.evaluate(() => {
    const send = WebSocket.prototype.send;
    let done = false;
    WebSocket.prototype.send = function (data) {
      if (!done && typeof data === "string" && data.includes('"input"') && data.includes('"dir":[1,0]')) {
        const frame = JSON.parse(data);
        frame.data.input.dt = 5000;
        data = JSON.stringify(frame);
        done = true;
      }
      return send.call(this, data);
    };
  });
  await hold(other, ["ArrowRight"], 400);
  await other.getByRole("alert").filter({ hasText: "The server set you back" }).waitFor();
  await shot(other, "set-back");

  // 12. The match ends: both see the scoreboard, and the result is stored.
  current = page;
  await page.getByRole("dialog", { name: "Match over" }).waitFor({ timeout: 70_000 });
  await other.getByRole("dialog", { name: "Match over" }).waitFor({ timeout: 10_000 });
  await shot(page, "match-over");
  await page.getByRole("button", { name: "Leave match" }).click();
  await page.getByRole("table", { name: "Recent results" }).getByRole("cell", { name: "E2E arena" }).waitFor();
  const results = await page.getByRole("table", { name: "Recent results" }).textContent();
  if (!/Admin [1-9]/.test(results ?? "")) throw new Error(`the stored result lacks the administrator's points: ${results}`);
  await shot(page, "results");

  // 13. The anticheat page shows the tampered client's violation.
  await page.getByRole("link", { name: "Anticheat" }).click();
  await page.getByRole("table", { name: "Players anticheat knows" }).getByText("teleport ×1").waitFor();
  await shot(page, "anticheat");

  // 14. The audit log shows what happened, live events connected, and the trail verifies.
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByText("connected", { exact: true }).waitFor();
  await page.getByRole("cell", { name: "grant.revoked" }).first().waitFor();
  await page.getByRole("cell", { name: "game.match_ended" }).first().waitFor();
  await page.getByRole("button", { name: "Verify the trail" }).click();
  await page.getByText(/^Intact: \d+ records/).waitFor();
  await shot(page, "audit");

  // 15. Chat: the administrator adds the local model server (granting the chat plugin its
  // address first), an agent that answers exactly, and the second person chats with it.
  const model = process.env.A2E_MODEL_OPENAI_URL;
  if (!model) throw new Error("A2E_MODEL_OPENAI_URL is not set (cargo xtask test starts the model server)");
  await page.getByRole("link", { name: "Chat providers" }).click();
  const form = page.getByRole("form", { name: "Add a provider" });
  await form.getByLabel("Id (a-z, 0-9 and -)").fill("local");
  await form.getByLabel("Name").fill("Local model");
  await form.getByLabel("Base URL").fill(model);
  await form.getByRole("button", { name: "Save provider" }).click();
  await page.getByRole("button", { name: /^Grant access to / }).click();
  await page.getByRole("list", { name: "Models the provider serves" }).getByText("SmolLM2-135M-Instruct").waitFor();
  await shot(page, "chat-provider");

  await other.getByRole("link", { name: "Agents", exact: true }).click();
  const agentForm = other.getByRole("form", { name: "New agent" });
  await agentForm.getByLabel("Name").fill("Exact");
  await agentForm.getByLabel("Temperature (0 to 2)").fill("0");
  await agentForm.getByLabel("Max tokens").fill("80");
  await agentForm.getByRole("button", { name: "Create agent" }).click();
  await other.getByRole("table", { name: "Agents" }).getByText("Exact").waitFor();
  await other.getByRole("link", { name: "Chat", exact: true }).click();
  await other.getByLabel("Agent", { exact: true }).selectOption({ label: "Exact" });
  await other.getByLabel("Message", { exact: true }).fill("What is the capital of France? Answer in one sentence.");
  await other.getByRole("button", { name: "Send" }).click();
  const log = other.getByRole("log", { name: "Conversation" });
  await log.getByRole("article", { name: "Assistant" }).getByText(/Paris/).waitFor({ timeout: 60000 });
  await other.getByRole("list", { name: "Chat sessions" }).getByText("What is the capital of France?").waitFor();
  await shot(other, "chat-answer");

  // 16. Regenerate keeps both answers as versions; a long answer is stopped and kept.
  await log.getByRole("article", { name: "Assistant" }).getByRole("button", { name: "Regenerate" }).click();
  await log.getByRole("group", { name: "Versions" }).getByText("2/2").waitFor({ timeout: 60000 });
  await other.getByRole("button", { name: "Send" }).waitFor();
  await other.getByLabel("Message", { exact: true }).fill("Write a very long story about a dragon who bakes bread.");
  await other.getByRole("button", { name: "Send" }).click();
  await other.getByRole("button", { name: "Stop" }).click();
  await log.getByText("stopped", { exact: true }).waitFor({ timeout: 60000 });
  await shot(other, "chat-stopped");

  // 17. Search finds the question; model output is shown as text, never run as markup.
  await other.getByLabel("Search chats").fill("capital");
  await other.getByRole("list", { name: "Search results" }).getByText("What is the capital of France?").first().waitFor();
  const scripts = await log.locator("script").count();
  if (scripts !== 0) throw new Error("the conversation holds script elements");
  await shot(other, "chat-search");

  // 18. A provider behind an API key: the administrator types the key once; the host stores it
  // and sends it to that provider only; the page shows that a key is set, never the key.
  const keyed = process.env.A2E_MODEL_OLLAMA_URL;
  if (!keyed) throw new Error("A2E_MODEL_OLLAMA_URL is not set (cargo xtask test starts the model server)");
  await page.getByRole("link", { name: "Chat providers" }).click();
  const keyForm = page.getByRole("form", { name: "Add a provider" });
  await keyForm.getByLabel("Id (a-z, 0-9 and -)").fill("hosted");
  await keyForm.getByLabel("Name").fill("Hosted model");
  await keyForm.getByLabel("Base URL").fill(`${keyed}/keyed`);
  await keyForm.getByLabel("API key (optional)").fill("a2e-test-key");
  await keyForm.getByRole("button", { name: "Save provider" }).click();
  await page.getByRole("button", { name: /^Grant access to / }).click();
  await page.getByRole("list", { name: "Models the provider serves" }).getByText("SmolLM2-135M-Instruct").waitFor();
  await page.getByRole("row", { name: /Hosted model/ }).getByText("set", { exact: true }).waitFor();
  if ((await page.content()).includes("a2e-test-key")) throw new Error("the page shows the API key");
  await shot(page, "chat-provider-key");

  // 19. Log out.
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("heading", { name: "Log in", exact: true }).waitFor();
  await shot(page, "logged-out");
  const after = await page.request.get(base + "/api/auth/session");
  if (after.status() !== 401) throw new Error(`after logout the session answers ${after.status()}`);

  console.log(`e2e: all steps passed; ${step} screenshots in ${artifacts}`);
  await browser.close();
} catch (e) {
  console.error(`e2e failed: ${e.message}`);
  if (current) await shot(current, "failure").catch(() => {});
  await browser.close();
  process.exit(1);
}
