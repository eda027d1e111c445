// The static page (`digitlab export-site`): the drawing pad and every method's answer, the models run
// here by ONNX Runtime Web on one thread. Opened from file:// or any static host, it fetches nothing.
"use strict";

const READY = "Draw one digit on the black pad.";
const SEEN_SIDE = 112; // px: "what the models saw", each of its 28 x 28 pixels 4 x 4
const WARM_READS = 20; // readings of a drawn 7 before the page says it is ready (about 0.3 s)

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const statusLine = document.getElementById("status");
const timing = document.getElementById("timing");
const readCanvas = document.createElement("canvas"); // the drawing as it is read: DigitPad.cut
const models = []; // {method, classes, unsure, session, card}, in the page's order

let strokes = [];    // each a list of [x, y] points, in shares of the pad's height
let drawing = false; // is the pen down on the pad?
let drawn = 0;       // counts changes to the drawing: an answer for an older one is not shown
let queue = Promise.resolve(); // one reading at a time: a session runs one input at a time
let answered = 0;    // the value of `drawn` the cards answer (or say "no digit" for)

// What the page measured and answered last, for a person (and the tests) to read.
// `penUpMs`: each pen-up's time to its answer; `settled`: whether the drawing as it stands is answered.
window.digitlab = { ready: false, penUpMs: [], answer: null, seen: null, settled: () => answered === drawn };

function say(text, isError = false) {
  statusLine.textContent = text; // the page's one live region: one sentence at a time
  statusLine.classList.toggle("error", isError);
}

function bytes(base64) {
  if (Uint8Array.fromBase64) return Uint8Array.fromBase64(base64);
  const text = atob(base64), out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

// ---- the pad ----
function repaint() {
  DigitPad.paint(ctx, strokes, pad.width, pad.height);
  document.getElementById("hint").hidden = strokes.length > 0;
}

function fitPad() {
  DigitPad.fit(pad);
  repaint();
}

pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  DigitPad.hold(); // an answer to the stroke before may shorten the cards mid-stroke: the pad must not move
  drawn += 1;
  strokes.push(DigitPad.points(pad, event).slice(-1));
  drawing = true;
  say("");
  repaint();
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  strokes[strokes.length - 1].push(...DigitPad.points(pad, event));
  repaint();
});

for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => {
    if (!drawing) return;
    drawing = false;
    const upAt = performance.now(), which = (drawn += 1);
    queue = queue.then(() => answer(which, upAt));
  });
}

document.getElementById("clear").addEventListener("click", () => {
  drawn += 1;
  DigitPad.release();
  strokes = [];
  repaint();
  reset();
  timing.textContent = "";
  say(READY);
});

new ResizeObserver(fitPad).observe(pad);

// ---- reading the drawing ----
// The drawing -> the 28 x 28 digit (as to_mnist reads it), or null for a dot or no ink.
function digitOf(lines) {
  if (DigitPad.extent(lines) < DigitPad.DOT) return null;
  const [context, width] = DigitPad.cut(readCanvas, lines);
  return MnistStyle.toMnist(MnistStyle.greyOf(context, width, DigitPad.SEND_HEIGHT));
}

// Every model's probabilities for one digit ((784,) floats in [0, 1]).
async function probabilities(digit) {
  const input = new ort.Tensor("float32", digit, [1, 1, 28, 28]);
  const out = [];
  for (const model of models) out.push(Array.from((await model.session.run({ pixels: input })).probabilities.data));
  return out;
}

async function answer(which, upAt) {
  if (!window.digitlab.ready || which !== drawn) return; // a newer stroke has begun: its own pen-up answers
  const digit = digitOf(strokes);
  if (!digit) {
    answered = which;
    reset("no digit");
    say(DigitPad.extent(strokes) < DigitPad.DOT ? "That is a dot, not a digit: draw a whole digit." : "No digit found: draw a digit.");
    return;
  }
  const said = await probabilities(digit);
  if (which !== drawn) return;
  show(digit, said);
  answered = which;
  const ms = performance.now() - upAt;
  window.digitlab.penUpMs.push(ms);
  timing.textContent = `Answered in ${Math.round(ms)} ms, here in your browser.`;
  say(`Your drawing: ${models.map((m) => `${window.digitlab.answer[m.method].label} (${METHODS[m.method][0]})`).join(", ")}.`);
}

// ---- the answers (cards.js draws the cards) ----
function reset(note = "") {
  drawSeen(null);
  window.digitlab.answer = null;
  for (const { card } of models) Cards.clear(card, note);
}

// Each model's answer is its likeliest digit; under its method's `unsure` probability (the server's
// threshold, trust/decline.py) it says so beside it.
function show(digit, said) {
  drawSeen(digit);
  window.digitlab.seen = Array.from(digit);
  window.digitlab.answer = {};
  models.forEach(({ method, classes, unsure, card }, k) => {
    const p = said[k], best = p.indexOf(Math.max(...p));
    window.digitlab.answer[method] = { label: classes[best], probabilities: p };
    card.classList.remove("waiting");
    card.querySelector(".label").textContent = classes[best];
    card.querySelector(".confidence").textContent = `${Cards.percent(p[best])} sure${p[best] < unsure ? " (unsure)" : ""}`;
    Cards.bars(card, p, best);
  });
}

function drawSeen(digit) {
  const seen = document.getElementById("seen"), context = seen.getContext("2d");
  const pixels = context.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const level = digit ? Math.round(255 * digit[i]) : 0;
    pixels.data.set([level, level, level, 255], 4 * i);
  }
  context.putImageData(pixels, 0, 0);
}

// ---- starting: the runtime from the copies in this folder, one session per model ----
async function start() {
  fitPad();
  document.getElementById("seen").style.width = `${SEEN_SIDE}px`;
  try {
    ort.env.wasm.numThreads = 1; // threads need cross-origin isolation, which file:// never has
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmBinary = bytes(ORT_WASM);
    ort.env.wasm.wasmPaths = { mjs: URL.createObjectURL(new Blob([ORT_GLUE], { type: "text/javascript" })) };
    const holder = document.getElementById("cards");
    for (const model of DIGITLAB_MODELS) {
      const session = await ort.InferenceSession.create(bytes(model.onnx), { executionProviders: ["wasm"] });
      const card = Cards.make(model);
      holder.append(card);
      models.push({ ...model, session, card });
    }
    // The first runs of each model and of the reading pay for compiling them (the reading took 30 ms
    // a drawing after one run, 4 ms after thirty): paid now, not at the first pen-ups.
    const seven = [[[0.9, 0.2], [1.2, 0.2], [1.0, 0.85]]];
    for (let i = 0; i < WARM_READS; i++) await probabilities(digitOf(seven));
    reset();
    window.digitlab.ready = true;
    say(READY);
  } catch (error) {
    say(`The models could not start in this browser (${error.message}).`, true);
  }
}

start();
