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

  // 8. The audit log shows what happened, live events connected.
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByText("connected", { exact: true }).waitFor();
  await page.getByRole("cell", { name: "grant.revoked" }).waitFor();
  await shot(page, "audit");

  // 9. Log out.
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
