// The drawing pad and the four answers. Plain JavaScript, nothing fetched from elsewhere.
"use strict";

const METHODS = {
  pixel: ["Pixel similarity", "distance to each digit's nearest ideal image: averages of alike training digits"],
  linear: ["Linear model", "one weight per pixel per digit, trained by SGD"],
  simple_net: ["Simple net", "two linear layers with a ReLU between"],
  cnn: ["CNN", "a small ResNet: convolutions and batch norm"],
};
// Sizes are shares of the pad's side, so a drawing is the same on any screen.
const PEN = { share: 0.12, min: 0.025, max: 0.075 }; // pen width: 12% of the drawing's size (MNIST's strokes), within these
const DOT = 0.06;          // a drawing smaller than this both ways is a dot, not a digit
const SEND_SIDE = 128;     // px: the drawing is sent at the size the server cleans it at (images.WORK_SIDE)
const PHOTO_SIDE = 512;    // px: a photo's longer side is scaled to this in the browser before it is sent
const LIVE_EVERY_MS = 120; // while the pen moves, ask at most this often (8 answers a second)

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const statusLine = document.getElementById("status");
const timing = document.getElementById("timing");
const cards = new Map(); // method -> its card element
const sendCanvas = document.createElement("canvas"); // the drawing again, at SEND_SIDE
sendCanvas.width = sendCanvas.height = SEND_SIDE;

let strokes = [];          // each a list of [x, y] points, in shares of the pad's side
let drawing = false;       // is the pen down on the pad?
let lastAsked = 0;         // performance.now() of the last live question
let inFlight = null;       // AbortController of the request under way: a newer drawing or Clear aborts it

function say(text, isError = false) {
  statusLine.textContent = text; // the page's one live region: one sentence at a time
  statusLine.classList.toggle("error", isError);
}

// ---- the drawing: kept as strokes, painted at whatever resolution is asked for ----
function extent() {
  const points = strokes.flat();
  if (!points.length) return 0;
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  return Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
}

function paint(context, side) {
  context.fillStyle = "#000";
  context.fillRect(0, 0, side, side);
  context.strokeStyle = "#fff";
  context.lineWidth = side * Math.min(PEN.max, Math.max(PEN.min, PEN.share * extent()));
  context.lineCap = "round";
  context.lineJoin = "round";
  for (const stroke of strokes) {
    context.beginPath();
    context.moveTo(stroke[0][0] * side, stroke[0][1] * side);
    for (const [x, y] of stroke.length > 1 ? stroke.slice(1) : stroke) context.lineTo(x * side, y * side);
    context.stroke();
  }
}

// The canvas holds as many pixels as the screen shows (3 per CSS pixel on many phones): sharp strokes.
function fitPad() {
  const side = Math.round(pad.getBoundingClientRect().width * (window.devicePixelRatio || 1));
  if (side > 0 && pad.width !== side) pad.width = pad.height = side;
  paint(ctx, pad.width);
}

function setDrawn() {
  document.getElementById("hint").hidden = strokes.length > 0;
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) / box.width, (event.clientY - box.top) / box.height];
}

pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  if (!strokes.length) showPhoto(null); // a new drawing replaces an uploaded photo
  strokes.push([point(event)]);
  drawing = true;
  setDrawn();
  paint(ctx, pad.width);
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const e of events.length ? events : [event]) strokes[strokes.length - 1].push(point(e));
  paint(ctx, pad.width);
  if (performance.now() - lastAsked >= LIVE_EVERY_MS) ask(false); // live: a newer question aborts an older one
});

for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => {
    if (!drawing) return;
    drawing = false;
    ask(true); // the stroke is finished: answer now
  });
}

document.getElementById("clear").addEventListener("click", () => {
  abort();
  strokes = [];
  setDrawn();
  paint(ctx, pad.width);
  showPhoto(null);
  reset();
  timing.textContent = "";
  say("Draw a digit in the black square.");
});

new ResizeObserver(fitPad).observe(pad);

// ---- a PNG written here: toBlob() waits for the browser to be idle (up to a second) ----
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set([...type].map((ch) => ch.charCodeAt(0)), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

// Rows of `channels` bytes a pixel (1: grey, 4: RGBA) -> PNG bytes, stored without compression:
// nothing to wait for, and a 128 x 128 drawing is 17 kB.
function png(pixels, width, height, channels) {
  const raw = new Uint8Array(height * (1 + width * channels)); // each row starts with filter 0 (none)
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * width * channels, (y + 1) * width * channels), y * (1 + width * channels) + 1);
  const blocks = Math.max(1, Math.ceil(raw.length / 65535));
  const zlib = new Uint8Array(2 + raw.length + 5 * blocks + 4);
  zlib.set([0x78, 0x01]);
  let at = 2, a = 1, b = 0;
  for (let i = 0; i < blocks; i++) {
    const part = raw.subarray(i * 65535, Math.min(raw.length, (i + 1) * 65535));
    zlib.set([i === blocks - 1 ? 1 : 0, part.length & 0xff, part.length >> 8, ~part.length & 0xff, (~part.length >> 8) & 0xff], at);
    zlib.set(part, at + 5);
    at += 5 + part.length;
  }
  for (const byte of raw) { a = (a + byte) % 65521; b = (b + a) % 65521; } // Adler-32
  new DataView(zlib.buffer).setUint32(at, ((b << 16) | a) >>> 0);
  const header = new Uint8Array(13);
  new DataView(header.buffer).setUint32(0, width);
  new DataView(header.buffer).setUint32(4, height);
  header.set([8, channels === 1 ? 0 : 6, 0, 0, 0], 8); // 8 bits, grey or RGBA
  const signature = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);
  return new Blob([signature, chunk("IHDR", header), chunk("IDAT", zlib), chunk("IEND", new Uint8Array())], { type: "image/png" });
}

// A canvas's pixels as a PNG: grey where every pixel is opaque, else RGBA (transparency is the paper).
function canvasPng(context, width, height) {
  const rgba = context.getImageData(0, 0, width, height).data;
  let opaque = true;
  for (let i = 3; i < rgba.length && opaque; i += 4) opaque = rgba[i] === 255;
  if (!opaque) return png(rgba, width, height, 4);
  const grey = new Uint8Array(width * height);
  for (let i = 0; i < grey.length; i++) { // the luminance PIL's convert("L") takes
    grey[i] = Math.round((rgba[4 * i] * 299 + rgba[4 * i + 1] * 587 + rgba[4 * i + 2] * 114) / 1000);
  }
  return png(grey, width, height, 1);
}

// ---- asking the server ----
function abort() {
  if (inFlight) inFlight.abort();
  inFlight = null;
}

function ask(final) {
  if (!strokes.length) return;
  lastAsked = performance.now();
  if (extent() < DOT) { // a tap: no digit to read; the server would guess one anyway
    abort();
    noDigit("That is a dot, not a digit: draw a whole digit.");
    return;
  }
  const context = sendCanvas.getContext("2d", { willReadFrequently: true });
  paint(context, SEND_SIDE);
  send(canvasPng(context, SEND_SIDE, SEND_SIDE), "your drawing", final);
}

let lastBody = null; // the image of the answer on the cards: "why?" sends it again

async function send(body, what, final) {
  abort();
  const controller = new AbortController();
  inFlight = controller;
  const started = performance.now();
  try {
    const response = await fetch("/api/predict", { method: "POST", body, headers: { "Content-Type": body.type }, signal: controller.signal });
    const answer = await response.json();
    if (inFlight !== controller) return; // a newer question (or Clear) came in meanwhile
    if (!response.ok) {
      if (/no digit/.test(answer.detail || "")) return noDigit(final ? `No digit found in ${what}: draw or photograph one digit.` : null);
      throw new Error(answer.detail || `the server answered ${response.status}`);
    }
    lastBody = body;
    show(answer);
    timing.textContent = `Answered in ${Math.round(performance.now() - started)} ms (the server's part: ${Math.round(answer.seconds * 1000)} ms).`;
    if (final) say(sentence(answer, what)); // live answers while drawing change the cards but are not announced
  } catch (error) {
    if (error.name === "AbortError" || inFlight !== controller) return;
    reset();
    say(error.message, true);
  } finally {
    if (inFlight === controller) inFlight = null;
  }
}

function sentence(answer, what) {
  const start = `${what[0].toUpperCase()}${what.slice(1)}: `;
  const reasons = new Set(answer.predictions.map((p) => p.declined));
  if (reasons.size === 1 && !reasons.has(null)) return `${start}declined, ${[...reasons][0]}.`; // every model alike: said once
  const each = answer.predictions.map((p) => `${p.declined ? `declined, ${p.declined}` : p.label} (${(METHODS[p.method] || [p.method])[0]})`);
  return `${start}${each.join(", ")}.`;
}

// ---- photos: decoded, turned upright and scaled down here, so a 12 MP phone photo sends ~0.3 MB ----
document.getElementById("upload").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  event.target.value = ""; // the same file chosen again is a new upload
  if (!file) return;
  abort();
  strokes = [];
  setDrawn();
  paint(ctx, pad.width);
  showPhoto(file);
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" }); // EXIF rotation applied
  } catch {
    reset();
    say(`${file.name} is not an image this browser can read; choose a PNG or JPEG photo of one digit.`, true);
    return;
  }
  const scale = Math.min(1, PHOTO_SIDE / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale)), height = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.imageSmoothingQuality = "high";
  context.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  send(canvasPng(context, width, height), `your photo (${file.name})`, true);
});

function showPhoto(file) {
  const figure = document.getElementById("photo-figure");
  const photo = document.getElementById("photo");
  if (photo.src.startsWith("blob:")) URL.revokeObjectURL(photo.src);
  figure.hidden = !file;
  if (file) {
    photo.src = URL.createObjectURL(file);
    document.getElementById("photo-name").textContent = file.name;
  } else {
    photo.removeAttribute("src");
  }
}

// ---- the answers ----
function percent(p) {
  return `${(100 * p).toFixed(p >= 0.995 || p < 0.005 ? 0 : 1)}%`;
}

function makeCard(model) {
  const card = document.getElementById("card").content.firstElementChild.cloneNode(true);
  const [name, about] = METHODS[model.method] || [model.method, ""];
  card.querySelector(".name").textContent = name;
  card.querySelector(".about").textContent = about;
  card.dataset.method = model.method;
  const bars = card.querySelector(".bars");
  for (const digit of model.classes) {
    const row = document.createElement("li");
    row.innerHTML = '<span class="digit"></span><span class="track"><span class="fill"></span></span><span class="pct"></span>';
    row.querySelector(".digit").textContent = digit;
    bars.append(row);
  }
  const facts = [`${model.classes.length} digits`];
  if (model.method !== "pixel") facts.push(`${model.epochs} epoch${model.epochs === 1 ? "" : "s"}`); // averages: nothing to train
  if (model.accuracy != null) facts.push(`${percent(model.accuracy)} right on its test digits`);
  card.querySelector(".meta").textContent = facts.join(" · ");
  card.querySelector(".why").addEventListener("click", () => why(card));
  return card;
}

// An <img> with no src shows a broken-image icon and its alt text; before any digit (and after
// Clear) the models have seen nothing, which this transparent pixel shows as the empty black square.
const NOTHING_SEEN = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";

function reset(note = "") {
  document.getElementById("seen").src = NOTHING_SEEN;
  lastBody = null;
  for (const card of cards.values()) {
    hideWhy(card, true);
    card.classList.add("waiting");
    card.classList.remove("declined");
    card.querySelector(".label").textContent = "–";
    card.querySelector(".confidence").textContent = note;
    for (const row of card.querySelectorAll(".bars li")) {
      row.classList.remove("best");
      row.querySelector(".fill").style.width = "0";
      row.querySelector(".pct").textContent = "";
    }
  }
}

function noDigit(message) {
  reset("no digit");
  timing.textContent = "";
  if (message) say(message); // a live answer while drawing is not announced
}

function show(answer) {
  document.getElementById("seen").src = `data:image/png;base64,${answer.image}`;
  for (const prediction of answer.predictions) {
    const card = cards.get(prediction.method);
    if (!card) continue;
    // A declined answer (no digit, not a digit, several digits, unsure) takes the digit's place, as plainly;
    // its probabilities stay on the bars, none marked best.
    const declined = prediction.declined;
    const best = declined ? -1 : prediction.classes.indexOf(prediction.label);
    card.classList.remove("waiting");
    card.classList.toggle("declined", Boolean(declined));
    hideWhy(card, false); // a new answer: the old explanation no longer holds
    card.querySelector(".label").textContent = declined || prediction.label;
    card.querySelector(".confidence").textContent = declined ? "declined" : `${percent(prediction.probabilities[best])} sure`;
    if (prediction.note) card.querySelector(".meta").textContent = prediction.note;
    card.querySelectorAll(".bars li").forEach((row, i) => {
      const p = prediction.probabilities[i];
      row.classList.toggle("best", i === best);
      row.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
      row.querySelector(".pct").textContent = percent(p);
    });
  }
}

// ---- why? ----
// Asked separately (POST /api/explain), one card at a time, so that the live answers stay instant.
const CAPTIONS = {
  minus_nearest_mean: "the digit minus the nearest ideal digit", minus_runner_up_mean: "minus the runner-up's ideal",
  evidence: "pixels that chose it over the runner-up", contribution: "weight × pixel, for the answer",
  runner_up_contribution: "weight × pixel, for the runner-up", integrated_gradients: "integrated gradients",
  occlusion: "the score lost when blacked out",
};

function hideWhy(card, disable) {
  const view = card.querySelector(".why-view");
  view.hidden = true;
  view.replaceChildren();
  card.querySelector(".why").disabled = disable;
}

function reason(why) {
  const score = (digit) => why.scores[why.classes.indexOf(digit)];
  if (why.method === "pixel") {
    return `Nearest to an ideal ${why.label} (distance ${score(why.label).toFixed(3)}), then to an ideal ${why.runner_up} (${score(why.runner_up).toFixed(3)}).`;
  }
  return `Score ${score(why.label).toFixed(2)} for ${why.label} against ${score(why.runner_up).toFixed(2)} for ${why.runner_up}. Red pixels pushed towards ${why.label}, blue away.`;
}

async function why(card) {
  const view = card.querySelector(".why-view");
  if (!view.hidden) return hideWhy(card, false);
  if (!lastBody) return;
  const body = lastBody;
  view.hidden = false;
  view.textContent = "…";
  try {
    const response = await fetch(`/api/explain?method=${encodeURIComponent(card.dataset.method)}`,
      { method: "POST", body, headers: { "Content-Type": body.type } });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.detail || `the server answered ${response.status}`);
    if (body !== lastBody) return; // the drawing changed meanwhile
    const text = document.createElement("p");
    text.textContent = reason(answer);
    const figures = Object.entries(answer.pictures).map(([name, picture]) => {
      const figure = document.createElement("figure");
      const img = document.createElement("img");
      img.src = `data:image/png;base64,${picture}`;
      img.width = img.height = 84;
      img.alt = CAPTIONS[name] || name.replace("_", " ");
      const caption = document.createElement("figcaption");
      caption.textContent = img.alt;
      figure.append(img, caption);
      return figure;
    });
    view.replaceChildren(text, ...figures);
  } catch (error) {
    view.textContent = `No explanation: ${error.message}`;
  }
}

async function start() {
  fitPad();
  try {
    const response = await fetch("/api/models");
    const { models } = await response.json();
    const holder = document.getElementById("cards");
    for (const model of models) {
      const card = makeCard(model);
      cards.set(model.method, card);
      holder.append(card);
    }
    reset();
    say(models.length ? "Draw a digit in the black square." : "The server has no models loaded.", !models.length);
  } catch (error) {
    say(`Cannot reach the digitlab server (${error.message}).`, true);
  }
}

start();
