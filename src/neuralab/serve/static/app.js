// Plain JS: list models, send an image (multipart) or features (JSON), draw the top classes as bars.
const $ = (id) => document.getElementById(id);
let models = [];

async function load() {
  models = (await (await fetch("/v1/models")).json()).models;
  $("model").innerHTML = models.map((m) => `<option>${m.name}</option>`).join("");
  pick();
}

function current() { return models.find((m) => m.name === $("model").value); }

function pick() {
  const m = current();
  if (!m) return;
  const image = m.input_shape.length === 3;
  $("info").textContent = `${m.task}, input ${m.input_shape.join("x")}, engine ${m.engine} (${m.precision})${accuracy(m)}`;
  $("drop").hidden = !image;
  $("features").hidden = image;
}

// Top-1 accuracy on the test split at the served precision; for int8/bf16 also fp32's and the agreement.
function accuracy(m) {
  if (typeof m.accuracy !== "number") return "";
  const pct = (v) => `${(100 * v).toFixed(1)}%`;
  const c = m.accuracy_check;
  const vs = c ? ` (fp32 ${pct(c.fp32_accuracy)}, same class ${pct(c.agreement)}${c.passed ? "" : ", check FAILED"})` : "";
  return `, test accuracy ${pct(m.accuracy)}${vs}`;
}

function show(answer) {
  $("error").textContent = "";
  const p = answer.predictions[0];
  if (p.top) {
    $("bars").innerHTML = p.top.map((t) =>
      `<div class="bar"><span class="name">${t.class}</span><div class="fill" style="width:${(t.probability * 20).toFixed(2)}rem"></div><span>${(t.probability * 100).toFixed(1)}%</span></div>`).join("");
  } else {
    $("bars").textContent = `value: ${p.value.join(", ")}`;
  }
  $("latency").textContent = `latency ${answer.latency_ms} ms`;
}

async function send(body, headers) {
  const r = await fetch(`/v1/models/${encodeURIComponent(current().name)}/predict`, { method: "POST", body, headers });
  const answer = await r.json();
  if (!r.ok) { $("error").textContent = answer.error; $("bars").innerHTML = ""; return; }
  show(answer);
}

function sendFile(file) {
  $("preview").src = URL.createObjectURL(file);
  const form = new FormData();
  form.append("file", file);
  send(form, {});
}

$("model").addEventListener("change", pick);
$("file").addEventListener("change", (e) => e.target.files[0] && sendFile(e.target.files[0]));
$("drop").addEventListener("dragover", (e) => { e.preventDefault(); $("drop").classList.add("over"); });
$("drop").addEventListener("dragleave", () => $("drop").classList.remove("over"));
$("drop").addEventListener("drop", (e) => {
  e.preventDefault(); $("drop").classList.remove("over");
  if (e.dataTransfer.files[0]) sendFile(e.dataTransfer.files[0]);
});
$("send").addEventListener("click", () => {
  const row = $("feat").value.split(",").map(Number);
  send(JSON.stringify({ inputs: [row] }), { "Content-Type": "application/json" });
});
load();
