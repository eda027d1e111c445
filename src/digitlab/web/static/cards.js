// A method's card: its name, what it does, its answer and a bar for each digit's probability. The
// server's page (app.js) and the static one (site.js) both show their answers on these.
"use strict";

const Cards = (() => {
  function percent(p) {
    return `${(100 * p).toFixed(p >= 0.995 || p < 0.005 ? 0 : 1)}%`;
  }

  // A new card from the page's <template id="card"> for `model` ({method, classes, epochs, accuracy, accuracy_on}).
  function make(model) {
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
    if (model.accuracy != null) facts.push(`${percent(model.accuracy)} right on ${model.accuracy_on || "its test digits"}`);
    card.querySelector(".meta").textContent = facts.join(" · ");
    return card;
  }

  // No answer: a dash, `note` beside it, empty bars.
  function clear(card, note = "") {
    card.classList.add("waiting");
    card.querySelector(".label").textContent = "–";
    card.querySelector(".confidence").textContent = note;
    bars(card, null, -1);
  }

  // Each digit's bar at its probability (`probabilities` null: empty), the `best` one marked.
  function bars(card, probabilities, best) {
    card.querySelectorAll(".bars li").forEach((row, i) => {
      const p = probabilities ? probabilities[i] : 0;
      row.classList.toggle("best", i === best);
      row.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
      row.querySelector(".pct").textContent = probabilities ? percent(p) : "";
    });
  }

  return { percent, make, clear, bars };
})();
