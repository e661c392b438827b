// Reads package.json in the current directory and prints name=value lines
// for bin/compile: the web command (JSON), whether there is a build script and
// devDependencies, whether the stack's Node satisfies engines.node, and the
// versions of node and (from its package.json, argv[2]) npm: one node
// process instead of three, which shows on a build that reuses the cache.
// Exits 1 with a message when package.json is not valid JSON.
"use strict";
const fs = require("fs");

let pkg;
try {
  pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
} catch (err) {
  console.log(`package.json is not valid JSON: ${err.message.split("\n")[0]}`);
  process.exit(1);
}
const scripts = pkg.scripts || {};

// The version asked for: engines.node, else .nvmrc, else .node-version (nvm's and fnm's files).
function firstLine(name) {
  try {
    const line = fs.readFileSync(name, "utf8").split("\n").map((l) => l.split("#")[0].trim()).find((l) => l);
    return line || "";
  } catch (err) {
    return "";
  }
}
let wanted = typeof (pkg.engines || {}).node === "string" ? pkg.engines.node.trim() : "";
let wantedFrom = wanted ? "engines.node" : "";
for (const name of [".nvmrc", ".node-version"]) {
  if (!wanted) {
    wanted = firstLine(name);
    wantedFrom = wanted ? name : "";
  }
}
// nvm's aliases for "whatever is current" are met by any stack's Node.
if (/^(node|stable|latest|lts\/.*|lts)$/i.test(wanted)) wanted = "";
const major = Number(process.versions.node.split(".")[0]);

// Only the common forms are checked ("20", "20.x", "^20.1", "~20", ">=18");
// anything else is reported as not checked rather than guessed at.
function engineCheck(range) {
  if (!range) return "none";
  let m = range.match(/^[~^]?v?(\d+)(\.(\d+|x|\*))*$/);
  if (m) return Number(m[1]) === major ? "ok" : "mismatch";
  m = range.match(/^>=?\s*v?(\d+)(\.\d+)*$/);
  if (m) return major >= Number(m[1]) ? "ok" : "mismatch";
  return "unchecked";
}

// The web process runs the start script itself rather than `npm start`: npm
// is a second Node.js program to boot (1-3 s under load, most of an Express
// deploy's start) and stands between the platform's SIGTERM and the app.
// npm stays where it does more than run the script: pre/post hooks, or a
// script that reads npm's variables. No start script: npm's own default.
function webCommand() {
  const start = scripts.start;
  if (start === undefined) return fs.existsSync("server.js") ? "node server.js" : "";
  const npmOnly = typeof start !== "string" || !start.trim() || /[\r\n]|npm_/.test(start);
  return npmOnly || scripts.prestart || scripts.poststart ? "npm start" : start.trim();
}

let npmVersion = "";
try {
  npmVersion = JSON.parse(fs.readFileSync(process.argv[2], "utf8")).version || "";
} catch (err) {
  npmVersion = "";
}
console.log(`node_version=${process.version}`);
console.log(`npm_version=${npmVersion}`);
console.log(`web_command=${JSON.stringify(webCommand())}`);
console.log(`has_build=${scripts.build ? 1 : 0}`);
console.log(`has_dev=${Object.keys(pkg.devDependencies || {}).length ? 1 : 0}`);
console.log(`engines=${wanted.replace(/\s+/g, " ")}`);
console.log(`engines_from=${wantedFrom}`);
console.log(`engines_check=${engineCheck(wanted)}`);
