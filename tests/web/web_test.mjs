// The web page in a real browser: headless Debian chromium driven by playwright-core, against a
// `clipface serve` on 127.0.0.1 (random port) with a fresh gallery. It enrolls a person from
// photos (file chooser and drag-and-drop), sees their face crops and the progress bar, recognizes
// a new photo of them and finds the name drawn on it, moves the threshold slider, renames and
// deletes the person and then sees Unknown, manages a key and watches the live events.
// Screenshots go to --out (test artifacts, never committed).
//
//   node tests/web/web_test.mjs --clipface build/clipface --shared ../shared --out build/web-artifacts
// Exit codes: 0 passed, 1 failed, 77 skipped (no chromium, no npm packages, no shared data).
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const SKIP = 77;
const here = path.dirname(fileURLToPath(import.meta.url));

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

function skip(reason) {
  console.log(`SKIPPED: ${reason}`);
  process.exit(SKIP);
}

const clipface = path.resolve(option("clipface", path.join(here, "../../build/clipface")));
const shared = path.resolve(option("shared", process.env.CLIPFACE_SHARED || path.join(here, "../../../shared")));
const out = path.resolve(option("out", path.join(here, "../../build/test-artifacts/web")));
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const examples = path.join(shared, "data/faces/named/face_recognition_examples");

if (!fs.existsSync(chromiumPath)) skip(`no chromium at ${chromiumPath} (apt-get install chromium, or set CHROMIUM)`);
if (!fs.existsSync(clipface)) skip(`no clipface binary at ${clipface}`);
if (!fs.existsSync(examples)) skip(`shared data missing: ${examples}`);
let chromium;
try {
  ({ chromium } = await import("playwright-core"));
} catch {
  skip(`playwright-core is not installed: run \`npm ci\` in ${here} (scripts/setup.sh does)`);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "clipface-web-"));
fs.mkdirSync(out, { recursive: true });
const photo = (p) => path.join(examples, p);

// Models through CLIPFACE_HOME, as a user's set-up links them.
const home = path.join(work, "home");
fs.mkdirSync(path.join(home, "models"), { recursive: true });
for (const dir of ["dlib", "yunet"]) {
  for (const f of fs.readdirSync(path.join(shared, "models", dir))) {
    fs.symlinkSync(path.join(shared, "models", dir, f), path.join(home, "models", f));
  }
}
const env = { ...process.env, CLIPFACE_HOME: home };

function run(args) {
  const r = spawnSync(clipface, args, { env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`clipface ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

// A gallery that knows someone else already (so "Unknown" means something), and an admin key.
const people = path.join(work, "people");
fs.mkdirSync(path.join(people, "kit_harington"), { recursive: true });
fs.symlinkSync(photo("kit_harington/john1.jpeg"), path.join(people, "kit_harington/john1.jpeg"));
const gallery = path.join(work, "gallery");
run(["enroll", gallery, people]);
const key = run(["keys", gallery, "create", "--scope", "all", "--name", "browser test"]).trim();

const portFile = path.join(work, "port");
// A development clip as a live source ("door"): its track events join the live view.
const clip = path.join(shared, "data/faces/videos/obama_hieubkvn123.mp4");
const sourceArgs = fs.existsSync(clip) ? ["--source", `door=${clip}`] : [];
const server = spawn(clipface, ["serve", gallery, "--listen", "127.0.0.1:0", "--port-file", portFile, ...sourceArgs], {
  env,
  stdio: ["ignore", "inherit", "inherit"],
});
let serverExit = null;
server.on("exit", (code, signal) => (serverExit = { code, signal }));

async function waitFor(what, check, ms = 60000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

let failed = false;
let context;
try {
  const port = await waitFor("the server to listen", () => {
    if (serverExit) throw new Error(`clipface serve exited: ${JSON.stringify(serverExit)}`);
    return fs.existsSync(portFile) && Number(fs.readFileSync(portFile, "utf8"));
  });
  const url = `http://127.0.0.1:${port}/`;
  context = await chromium.launchPersistentContext(path.join(work, "profile"), {
    executablePath: chromiumPath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(30000);
  page.on("dialog", (d) => d.accept());  // the page confirms deletions
  page.on("pageerror", (e) => console.log(`page error: ${e.message}`));
  const shot = (name) => page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });
  const step = (text) => console.log(`- ${text}`);

  step("open the page and give it the key");
  await page.goto(url);
  await page.waitForSelector("body[data-ready=true]");
  await page.fill("#api-key", key);
  await page.dispatchEvent("#api-key", "change");
  await page.waitForFunction(() => document.querySelector("#gallery-info").textContent.includes("keys required"));

  step("watch the live events");
  await page.click("#tabs button[data-tab=live]");

  step("enroll Barack Obama from photos: chosen, and one dropped");
  await page.click("#tabs button[data-tab=enroll]");
  await page.fill("#enroll-name", "Barack Obama");
  await page.setInputFiles("#enroll-files", [photo("barack_obama/obama.jpg"), photo("barack_obama/obama1.jpg")]);
  await page.waitForFunction(() => document.querySelector("#enroll-status").textContent.includes("2 of 2 photos enrolled"));
  const dropped = fs.readFileSync(photo("barack_obama/obama2.jpg")).toString("base64");
  await page.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], "obama2.jpg", { type: "image/jpeg" }));
    document.querySelector("#enroll-drop").dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true }));
  }, dropped);
  await page.waitForFunction(() => document.querySelector("#enroll-status").textContent.includes("1 of 1 photos enrolled"));
  const crops = await page.locator("#enroll-results figure.ok img.crop").count();
  if (crops !== 3) throw new Error(`expected 3 face crops after enrolling, saw ${crops}`);
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#enroll-results img.crop")].every((img) => img.complete && img.naturalWidth > 0));
  const progress = await page.$eval("#enroll-progress", (p) => [p.value, p.max]);
  if (progress[0] !== progress[1]) throw new Error(`progress bar at ${progress}`);
  await shot("1-enrolled");

  const labels = () => page.$$eval("#boxes .face-box .label", (ls) => ls.map((l) => l.textContent));
  async function recognizeAndRead(file) {
    await page.click("#tabs button[data-tab=recognize]");
    await page.evaluate(() => document.querySelector("#boxes").replaceChildren());
    await page.setInputFiles("#recognize-file", file);
    await page.waitForSelector("#boxes .face-box");
    return labels();
  }

  step("recognize a new photo of him: his name is drawn on it");
  const group = photo("_group/obama_and_biden.jpg");
  let seen = await recognizeAndRead(group);
  if (!seen.includes("Barack Obama")) throw new Error(`name not drawn; labels: ${seen}`);
  if (!seen.includes("Unknown")) throw new Error(`the stranger beside him should be Unknown; labels: ${seen}`);
  await shot("2-recognized");

  step("the threshold slider: strict makes everyone Unknown, then back");
  await page.$eval("#threshold", (s) => {
    s.value = s.min;
    s.dispatchEvent(new Event("input", { bubbles: true }));
  });
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#boxes .face-box .label")].every((l) => l.textContent === "Unknown"));
  await page.$eval("#threshold", (s) => {
    s.value = "0.35";
    s.dispatchEvent(new Event("input", { bubbles: true }));
  });
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#boxes .face-box .label")].some((l) => l.textContent === "Barack Obama"));

  step("browse people: thumbnails, then rename");
  await page.click("#tabs button[data-tab=people]");
  const person = page.locator('#people-list li[data-subject="Barack Obama"]');
  await person.waitFor();
  await page.waitForFunction(() =>
    document.querySelectorAll('#people-list li[data-subject="Barack Obama"] img.crop').length === 3);
  await shot("3-people");
  await person.locator("button.rename").click();
  await person.locator(".rename-form input").fill("Barack H. Obama");
  await person.locator(".rename-form button").click();
  await page.locator('#people-list li[data-subject="Barack H. Obama"]').waitFor();
  seen = await recognizeAndRead(group);
  if (!seen.includes("Barack H. Obama")) throw new Error(`renamed name not drawn; labels: ${seen}`);

  step("delete him: then he is Unknown");
  await page.click("#tabs button[data-tab=people]");
  await page.locator('#people-list li[data-subject="Barack H. Obama"] button.delete').click();
  await page.waitForFunction(() => !document.querySelector('#people-list li[data-subject="Barack H. Obama"]'));
  seen = await recognizeAndRead(group);
  if (seen.some((l) => l !== "Unknown")) throw new Error(`after deletion expected only Unknown; labels: ${seen}`);
  await shot("4-unknown-after-delete");

  step("the live events showed the recognitions");
  await page.click("#tabs button[data-tab=live]");
  await page.waitForFunction(() => document.querySelectorAll("#events li").length >= 3);
  const events = await page.$$eval("#events li", (ls) => ls.map((l) => l.textContent).join("\n"));
  if (!events.includes("Barack Obama")) throw new Error(`no live event named him:\n${events}`);
  if (sourceArgs.length) {
    // The clip's track, from the video pipeline, and its name among the preview's sources.
    if (!/door: track 1 \(.+\) left/.test(events)) throw new Error(`no track events of the clip:\n${events}`);
    const sources = await page.$$eval("#preview-source option", (os) => os.map((o) => o.value));
    if (!sources.includes("door")) throw new Error(`preview sources: ${sources}`);
  }
  await shot("5-live");

  step("keys: create one (shown once), then revoke it");
  await page.click("#tabs button[data-tab=keys]");
  await page.fill("#key-name", "door camera");
  await page.click("#key-form button[type=submit]");
  await page.waitForSelector("#new-key:not([hidden])");
  const newKey = await page.textContent("#new-key-value");
  if (!/^cfk_[0-9a-f]{8}_[0-9a-f]{64}$/.test(newKey)) throw new Error(`odd key: ${newKey}`);
  const row = page.locator("#key-table tbody tr", { hasText: "door camera" });
  await row.locator("button").click();
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#key-table tbody tr")].some((r) => r.textContent.includes("door camera") && !r.querySelector("button")));
  await shot("6-keys");
  console.log(`passed; screenshots in ${out}`);
} catch (e) {
  failed = true;
  console.log(`FAILED: ${e.stack || e}`);
  try {
    const page = context && context.pages()[0];
    if (page) await page.screenshot({ path: path.join(out, "failure.png"), fullPage: true });
  } catch {}
} finally {
  if (context) await context.close();
  if (!serverExit) {
    server.kill("SIGTERM");
    await waitFor("the server to stop", () => serverExit, 30000).catch(() => server.kill("SIGKILL"));
  }
  if (serverExit && serverExit.code !== 0) {
    console.log(`clipface serve ended with ${JSON.stringify(serverExit)}`);
    failed = true;
  }
  fs.rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
