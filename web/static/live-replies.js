// The agents' replies as the model writes them, on a trip's page: each `reply` event of the
// trip's stream (see GET /api/trips/{id}/events) shows the agent's text so far and the elements
// of its answer's lists as they complete (the itinerary's days). Never the record: an agent's
// part is marked written when its step is done, and the whole goes away when the plan, as
// checked and saved, is shown for review.
// Written with textContent only: the model's text is never read as HTML.
(function () {
  "use strict";
  var TAIL = 600;
  var LABELS = {
    destination: "Destinations",
    itinerary: "Itinerary",
    "local-tips": "Local tips",
    packing: "Packing list",
  };

  function card() {
    return document.getElementById("writing");
  }

  function block(agent) {
    var list = card().querySelector(".writing-agents");
    var found = list.querySelector('[data-agent="' + agent + '"]');
    if (found) {
      return found;
    }
    var item = document.createElement("li");
    item.dataset.agent = agent;
    item.dataset.round = "";
    var title = document.createElement("h3");
    title.textContent = LABELS[agent] || agent;
    var items = document.createElement("ol");
    items.className = "writing-items";
    var text = document.createElement("pre");
    text.className = "writing-text";
    item.append(title, items, text);
    list.append(item);
    return item;
  }

  function itemLabel(piece) {
    var value = piece.value || {};
    if (piece.list === "days" && value.day !== undefined) {
      return "Day " + value.day + (value.theme ? ": " + value.theme : "");
    }
    return String(value.name || value.title || JSON.stringify(value));
  }

  function show(piece) {
    var here = block(piece.agent);
    var round = piece.call + "/" + piece.round;
    if (round !== here.dataset.round) {
      // A new round, or the agent called again: what was written before is not the answer.
      here.dataset.round = round;
      here.classList.remove("written");
      here.querySelector(".writing-items").textContent = "";
      here.querySelector(".writing-text").textContent = "";
    }
    var text = here.querySelector(".writing-text");
    if (piece.type === "text") {
      text.textContent = (text.textContent + piece.text).slice(-TAIL);
    } else if (piece.type === "toolCall") {
      text.textContent = (text.textContent + "\n[calls " + piece.name + "]\n").slice(-TAIL);
    } else if (piece.type === "item") {
      var entry = document.createElement("li");
      entry.textContent = itemLabel(piece);
      here.querySelector(".writing-items").append(entry);
    }
    card().hidden = false;
  }

  function hide() {
    card().hidden = true;
    card().querySelector(".writing-agents").textContent = "";
  }

  document.addEventListener("htmx:sseMessage", function (event) {
    var message = event.detail;
    if (!card() || !message || typeof message.data !== "string") {
      return;
    }
    var data;
    try {
      data = JSON.parse(message.data);
    } catch (e) {
      return;
    }
    if (message.type === "reply") {
      show(data);
    } else if (message.type === "step" && data.state === "done") {
      var here = card().querySelector('[data-agent="' + data.key + '"]');
      if (here) {
        here.classList.add("written");
      }
    } else if (message.type === "progress" && data.progress.state !== "planning") {
      // The plan is shown from the record now.
      hide();
    } else if (message.type === "finished") {
      hide();
    }
  });
})();
