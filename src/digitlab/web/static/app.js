// The drawing pad and the four answers, each a digit or a number. Plain JavaScript, nothing fetched from elsewhere.
"use strict";

const PHOTO_SIDE = 512;    // px: a photo's longer side is scaled to this in the browser before it is sent
const LIVE_EVERY_MS = 120; // while the pen moves, ask at most this often (8 answers a second)
const READY = "Draw a digit or a number on the black pad.";
const SEEN_SCALE = 4;      // "what the models saw": each 28 x 28 pixel shown 4 x 4

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const statusLine = document.getElementById("status");
const timing = document.getElementById("timing");
const cards = new Map(); // method -> its card element
const sendCanvas = document.createElement("canvas"); // the drawing again: DigitPad.SEND_HEIGHT high, cut to its ink's columns

let strokes = [];          // each a list of [x, y] points, in shares of the pad's height
let drawing = false;       // is the pen down on the pad?
let lastAsked = 0;         // performance.now() of the last live question
let inFlight = null;       // AbortController of the request under way: a newer drawing or Clear aborts it

function say(text, isError = false) {
  statusLine.textContent = text; // the page's one live region: one sentence at a time
  statusLine.classList.toggle("error", isError);
}

// ---- the drawing: kept as strokes (pad.js paints them) ----
function repaint() {
  DigitPad.paint(ctx, strokes, pad.width, pad.height);
}

function fitPad() {
  DigitPad.fit(pad);
  repaint();
}

function setDrawn() {
  document.getElementById("hint").hidden = strokes.length > 0;
}

pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  DigitPad.hold(); // the answers below may shorten mid-stroke: the page must not scroll the pad away
  if (!strokes.length) showPhoto(null); // a new drawing replaces an uploaded photo
  abort(); // an answer still on its way is for the drawing before this stroke: neither shown nor said
  say(""); // nor the last sentence, which told of it; the next comes as the pen lifts
  strokes.push(DigitPad.points(pad, event).slice(-1));
  drawing = true;
  setDrawn();
  repaint();
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  strokes[strokes.length - 1].push(...DigitPad.points(pad, event));
  repaint();
  // Live: one question at a time. An aborted one still costs the server its split, and splitting a
  // half-drawn digit can be slow (a 7's bar alone: 2 s, its cuts judged one by one), so questions asked
  // every LIVE_EVERY_MS piled up behind it and the pen-up answer waited for them (1 s and more).
  if (!inFlight && performance.now() - lastAsked >= LIVE_EVERY_MS) ask(false);
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
  DigitPad.release();
  strokes = [];
  setDrawn();
  repaint();
  showPhoto(null);
  reset();
  timing.textContent = "";
  say(READY);
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
  if (DigitPad.extent(strokes) < DigitPad.DOT) { // a tap: no digit to read; the server would guess one anyway
    abort();
    noDigit("That is a dot, not a digit: draw a whole digit.");
    return;
  }
  const [context, width, from] = DigitPad.cut(sendCanvas, strokes);
  const SEND_HEIGHT = DigitPad.SEND_HEIGHT;
  // The boxes come back in the cut's pixels: placed on the whole pad, SEND_HEIGHT px to its height.
  const shown = { boxes: document.getElementById("boxes"), left: from * SEND_HEIGHT, width: DigitPad.ASPECT * SEND_HEIGHT, height: SEND_HEIGHT };
  send(canvasPng(context, width, SEND_HEIGHT), "your drawing", final, shown);
}

let lastBody = null; // the image of the answer on the cards: "why?" sends it again

// `shown`: where the digits' boxes go ({boxes: their holder, over the picture sent}) and its size in px.
async function send(body, what, final, shown) {
  abort();
  const controller = new AbortController();
  inFlight = controller;
  const started = performance.now();
  try {
    const response = await fetch("/api/predict", { method: "POST", body, headers: { "Content-Type": body.type }, signal: controller.signal });
    const answer = await response.json();
    if (inFlight !== controller) return; // a newer question (or Clear) came in meanwhile
    if (!response.ok) {
      if (/no digit/.test(answer.detail || "")) return noDigit(final ? `No digit found in ${what}: draw or photograph a digit or a number.` : null);
      throw new Error(answer.detail || `the server answered ${response.status}`);
    }
    lastBody = body;
    show(answer);
    drawBoxes(shown, answer.digits);
    timing.textContent = `Answered in ${Math.round(performance.now() - started)} ms (the server's part: ${Math.round(answer.seconds * 1000)} ms).`;
    if (final) say(sentence(answer, what)); // live answers while drawing change the cards but are not announced
  } catch (error) {
    if (error.name === "AbortError" || inFlight !== controller) return;
    reset();
    timing.textContent = ""; // the last answer's time belongs to the answer just cleared
    say(error.message, true);
  } finally {
    if (inFlight === controller) inFlight = null;
  }
}

function sentence(answer, what) {
  const start = `${what[0].toUpperCase()}${what.slice(1)}: `;
  const reasons = new Set(answer.predictions.map((p) => p.declined));
  if (reasons.size === 1 && !reasons.has(null)) return `${start}declined, ${[...reasons][0]}.`; // every model alike: said once
  const several = answer.digits.length > 1;
  const numbers = new Set(answer.predictions.map((p) => p.number));
  // Where digits touch, digitlab predict takes the strip reader's digits; the cards keep each method's own.
  const read = answer.read ? ` digitlab predict reads ${answer.read}: the strip reader's digits where they touch.` : "";
  if (several && numbers.size === 1 && reasons.size === 1 && reasons.has(null)) return `${start}the number ${[...numbers][0]} (every method).${read}`;
  const each = answer.predictions.map((p) => `${p.declined ? `declined, ${p.declined}` : several ? p.number : p.label} (${(METHODS[p.method] || [p.method])[0]})`);
  return `${start}${each.join(", ")}.${read}`;
}

// ---- photos: decoded, turned upright and scaled down here, so a 12 MP phone photo sends ~0.3 MB ----
// The button opens the hidden file input's chooser: a button answers Enter and Space in every browser.
document.getElementById("choose-photo").addEventListener("click", () => document.getElementById("upload").click());

document.getElementById("upload").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  event.target.value = ""; // the same file chosen again is a new upload
  if (!file) return;
  abort();
  strokes = [];
  setDrawn();
  repaint();
  showPhoto(file);
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" }); // EXIF rotation applied
  } catch {
    reset();
    showPhoto(null); // no picture to show: an <img> of it would be a broken-image icon
    timing.textContent = "";
    say(`${file.name} is not an image this browser can read; choose a PNG or JPEG photo of a digit or a number.`, true);
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
  send(canvasPng(context, width, height), `your photo (${file.name})`, true,
    { boxes: document.getElementById("photo-boxes"), width, height });
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

// ---- the answers (cards.js draws the cards) ----
const percent = Cards.percent;

function makeCard(model) {
  const card = Cards.make(model);
  card.querySelector(".why").addEventListener("click", () => why(card));
  nameWhy(card, null);
  return card;
}

// An <img> with no src shows a broken-image icon and its alt text; before any digit (and after
// Clear) the models have seen nothing, which this transparent pixel shows as the empty black square.
const NOTHING_SEEN = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";

function reset(note = "") {
  showSeen(NOTHING_SEEN, 28);
  drawBoxes(null, []);
  lastBody = null;
  for (const card of cards.values()) {
    hideWhy(card, true);
    nameWhy(card, null);
    card.classList.remove("declined", "number");
    Cards.clear(card, note);
  }
}

function noDigit(message) {
  reset("no digit");
  timing.textContent = "";
  if (message) say(message); // a live answer while drawing is not announced
}

// The models' pictures side by side (numbers.GAP px apart), each pixel SEEN_SCALE times larger.
function showSeen(src, width) {
  const seen = document.getElementById("seen");
  seen.src = src;
  seen.width = SEEN_SCALE * width;
}

function show(answer) {
  const several = answer.digits.length > 1;
  showSeen(`data:image/png;base64,${answer.image}`, 28 * answer.digits.length + 4 * (answer.digits.length - 1));
  for (const prediction of answer.predictions) {
    const card = cards.get(prediction.method);
    if (!card) continue;
    // A declined answer (no digit, not a digit, several digits, unsure) takes the digit's (or the number's)
    // place, as plainly; a digit's probabilities stay on the bars, none marked best.
    const declined = prediction.declined;
    const best = declined || several ? -1 : prediction.classes.indexOf(prediction.label);
    card.classList.remove("waiting");
    card.classList.toggle("declined", Boolean(declined));
    card.classList.toggle("number", several); // a number: its digits in the label, no bars
    hideWhy(card, several); // a new answer: the old explanation no longer holds; "why?" explains one digit
    nameWhy(card, { several, declined, label: prediction.label });
    const label = card.querySelector(".label");
    if (several && !declined) label.replaceChildren(...places(answer.digits, prediction.method));
    else label.textContent = declined || prediction.label;
    card.querySelector(".confidence").textContent = declined ? "declined"
      : several ? `${answer.digits.length} digits` : `${percent(prediction.probabilities[best])} sure`;
    if (prediction.note) card.querySelector(".meta").textContent = prediction.note;
    Cards.bars(card, several ? null : prediction.probabilities, best);
  }
}

// A number's digits as one method read them: each large, its probability small under it; a declined
// one is "?" with its reason under it (and on hover); a gap between lines.
function places(digits, method) {
  return digits.flatMap((digit, k) => {
    const said = digit.answers[method];
    const place = document.createElement("span");
    place.className = "place";
    const shown = document.createElement("span");
    shown.className = "d";
    const under = document.createElement("span");
    under.className = "p";
    if (said.declined) {
      place.classList.add("unread");
      shown.textContent = "?";
      under.textContent = said.declined;
      place.title = `digit ${k + 1} declined: ${said.declined} (${percent(said.probability)} for its likeliest digit)`;
    } else {
      shown.textContent = said.label;
      under.textContent = percent(said.probability);
      place.title = `digit ${k + 1}: ${said.label}, ${percent(said.probability)} sure`;
    }
    place.append(shown, under);
    const newLine = k > 0 && digit.line !== digits[k - 1].line;
    return newLine ? [Object.assign(document.createElement("span"), { className: "line-gap" }), place] : [place];
  });
}

// A thin outline over each digit found, numbered in reading order when there are several; `shown` is
// where the picture was sent from ({boxes, width, height, left}: the px of the picture it was cut from,
// the cut's left edge in them), null to clear them.
function drawBoxes(shown, digits) {
  for (const holder of document.querySelectorAll(".boxes")) holder.replaceChildren();
  if (!shown) return;
  shown.boxes.replaceChildren(...digits.map((digit, k) => {
    const [x0, y0, x1, y1] = digit.box;
    const box = document.createElement("span");
    box.className = "box";
    box.style.left = `${(100 * ((shown.left || 0) + x0)) / shown.width}%`;
    box.style.top = `${(100 * y0) / shown.height}%`;
    box.style.width = `${(100 * (x1 - x0)) / shown.width}%`;
    box.style.height = `${(100 * (y1 - y0)) / shown.height}%`;
    if (digits.length > 1) box.dataset.n = k + 1;
    return box;
  }));
}

// ---- why? ----
// Asked separately (POST /api/explain), one card at a time, so that the live answers stay instant.
// Every word shown comes with the answer (explain/words.py's), the same words as predict --explain's
// pictures and the report: the scores said in words, and each map's name, caption and colour key.

function hideWhy(card, disable) {
  const view = card.querySelector(".why-view");
  view.hidden = true;
  view.replaceChildren();
  card.querySelector(".why").disabled = disable;
}

// Four buttons all read "why?": each one's accessible name says whose answer it explains, and what
// the answer was ("why CNN said 7"), or why there is nothing to explain.
function nameWhy(card, said) {
  const name = card.querySelector(".name").textContent;
  card.querySelector(".why").setAttribute("aria-label",
    said === null ? `why ${name} said nothing: no answer to explain yet`
      : said.several ? `why ${name} read a number: explains one digit at a time`
        : said.declined ? `why ${name} declined: ${said.declined}` : `why ${name} said ${said.label}`);
}

// One map: its picture, and beside it its name, a sentence about this answer and its colour key.
function mapFigure(picture, words) {
  const figure = document.createElement("figure");
  const img = document.createElement("img");
  img.src = `data:image/png;base64,${picture}`;
  img.width = img.height = 84;
  img.alt = words.title;
  const caption = document.createElement("figcaption");
  const title = Object.assign(document.createElement("b"), { className: "title", textContent: words.title });
  const sentence = Object.assign(document.createElement("span"), { className: "caption", textContent: words.caption });
  const key = Object.assign(document.createElement("span"), { className: "key" });
  key.append(Object.assign(document.createElement("span"), { className: "ramp" }), `Colour key: ${words.key.join("; ")}.`);
  caption.append(title, sentence, key);
  figure.append(img, caption);
  return figure;
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
    text.textContent = answer.words.scores;
    const figures = Object.entries(answer.pictures).map(([key, picture]) => mapFigure(picture, answer.words.maps[key]));
    if (answer.words.units) { // what a hidden unit is, said once before the units' pictures
      const units = Object.assign(document.createElement("div"), { className: "units", textContent: answer.words.units });
      figures.splice(Object.keys(answer.pictures).findIndex((key) => key.startsWith("unit_")), 0, units);
    }
    view.replaceChildren(text, ...figures);
    view.scrollIntoView({ block: "nearest" }); // the button is at the card's top, its pictures under the bars
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
    say(models.length ? READY : "The server has no models loaded.", !models.length);
  } catch (error) {
    say(`Cannot reach the digitlab server (${error.message}).`, true);
  }
}

start();
