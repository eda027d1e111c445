// The drawing pad and the four answers. Plain JavaScript, nothing fetched from elsewhere.
"use strict";

const METHODS = {
  pixel: ["Pixel similarity", "distance to each digit's average image; nothing learned"],
  linear: ["Linear model", "one weight per pixel per digit, trained by SGD"],
  simple_net: ["Simple net", "two linear layers with a ReLU between"],
  cnn: ["CNN", "a small ResNet: convolutions and batch norm"],
};
const STROKE = 20;       // px on the 280 px pad: about 2 MNIST pixels, like a pen stroke
const DEBOUNCE_MS = 150; // ask again once drawing pauses this long

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const statusLine = document.getElementById("status");
const cards = new Map(); // method -> its card element

let drawn = false;       // is there ink on the pad?
let last = null;         // the previous point of the stroke being drawn
let timer = null;
let inFlight = null;     // AbortController of the request under way: a newer drawing replaces it

function say(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

function clearPad() {
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.width, pad.height);
  setDrawn(false);
}

function setDrawn(value) {
  drawn = value;
  document.getElementById("hint").hidden = value;
}

// ---- drawing, with pointer events: mouse, pen and finger alike ----
function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height];
}

function line(from, to) {
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = STROKE;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(...from);
  ctx.lineTo(...to);
  ctx.stroke();
}

pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  if (!drawn) showPhoto(null); // a new drawing replaces an uploaded photo
  last = point(event);
  line(last, last);
  setDrawn(true);
  schedule();
});

pad.addEventListener("pointermove", (event) => {
  if (!last) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) {
    const next = point(e);
    line(last, next);
    last = next;
  }
  schedule();
});

for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => {
    if (!last) return;
    last = null;
    ask(); // the stroke is finished: answer now rather than after the pause
  });
}

document.getElementById("clear").addEventListener("click", () => {
  clearPad();
  showPhoto(null);
  reset();
  say("Draw a digit in the black square.");
});

document.getElementById("upload").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (!file) return;
  clearPad();
  showPhoto(file);
  const form = new FormData();
  form.append("file", file);
  send(form, `your photo (${file.name})`);
  event.target.value = ""; // the same file chosen again is a new upload
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

// ---- asking the server ----
function schedule() {
  clearTimeout(timer);
  timer = setTimeout(ask, DEBOUNCE_MS);
}

function ask() {
  clearTimeout(timer);
  if (!drawn) return;
  pad.toBlob((blob) => send(blob, "your drawing"), "image/png");
}

async function send(body, what) {
  if (inFlight) inFlight.abort();
  const controller = new AbortController();
  inFlight = controller;
  const headers = body instanceof Blob ? { "Content-Type": body.type } : {}; // FormData sets its own
  try {
    const response = await fetch("/api/predict", { method: "POST", body, headers, signal: controller.signal });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.detail || `the server answered ${response.status}`);
    show(answer);
    say(`Read ${what} in ${(answer.seconds * 1000).toFixed(0)} ms.`);
  } catch (error) {
    if (error.name === "AbortError") return;
    reset();
    say(error.message, true);
  } finally {
    if (inFlight === controller) inFlight = null;
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
  return card;
}

// An <img> with no src shows a broken-image icon and its alt text; before any digit (and after
// Clear) the models have seen nothing, which this transparent pixel shows as the empty black square.
const NOTHING_SEEN = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";

function reset() {
  document.getElementById("seen").src = NOTHING_SEEN;
  for (const card of cards.values()) {
    card.classList.add("waiting");
    card.querySelector(".label").textContent = "–";
    card.querySelector(".confidence").textContent = "";
    for (const row of card.querySelectorAll(".bars li")) {
      row.classList.remove("best");
      row.querySelector(".fill").style.width = "0";
      row.querySelector(".pct").textContent = "";
    }
  }
}

function show(answer) {
  document.getElementById("seen").src = `data:image/png;base64,${answer.image}`;
  for (const prediction of answer.predictions) {
    const card = cards.get(prediction.method);
    if (!card) continue;
    const best = prediction.classes.indexOf(prediction.label);
    card.classList.remove("waiting");
    card.querySelector(".label").textContent = prediction.label;
    card.querySelector(".confidence").textContent = `${percent(prediction.probabilities[best])} sure`;
    card.querySelectorAll(".bars li").forEach((row, i) => {
      const p = prediction.probabilities[i];
      row.classList.toggle("best", i === best);
      row.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
      row.querySelector(".pct").textContent = percent(p);
    });
  }
}

async function start() {
  clearPad();
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
