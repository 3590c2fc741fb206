// The chat page's replies as they are written: a message's form is posted as it would be without
// JavaScript, asking for `text/event-stream`; the reply's `text` events are shown as they come
// (textContent only: the model's text is never read as HTML), then the conversation's page as
// the server keeps it (`done`, whose data is its address), or what went wrong (`problem`). Without this script the
// form posts and the page comes back with the reply.
(function () {
  "use strict";

  function item(cls, who) {
    var li = document.createElement("li");
    li.className = cls;
    var name = document.createElement("span");
    name.className = "who";
    name.textContent = who;
    var text = document.createElement("p");
    li.append(name, text);
    document.getElementById("messages").append(li);
    return text;
  }

  // Server-sent events from a fetch's body: each block's `event` and `data` lines.
  function readEvents(body, onEvent) {
    var reader = body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) {
          return;
        }
        buffer += decoder.decode(chunk.value, { stream: true });
        var end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          var block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          var name = "message";
          var data = [];
          block.split("\n").forEach(function (line) {
            if (line.indexOf("event:") === 0) {
              name = line.slice(6).trim();
            } else if (line.indexOf("data:") === 0) {
              data.push(line.slice(5).replace(/^ /, ""));
            }
          });
          if (data.length) {
            onEvent(name, data.join("\n"));
          }
        }
        return pump();
      });
    }
    return pump();
  }

  function send(form, event) {
    var box = form.querySelector("textarea");
    if (!box.value.trim() || !window.fetch || !window.TextDecoder) {
      return; // the browser posts the form itself
    }
    event.preventDefault();
    var body = new URLSearchParams(new FormData(form));
    item("from-traveller", "You").textContent = box.value;
    var reply = item("from-assistant writing", "Assistant");
    var button = form.querySelector("button");
    var said = box.value;
    button.disabled = true;
    box.value = "";
    var ended = false;
    fetch(form.action, {
      method: "POST",
      body: body,
      headers: { Accept: "text/event-stream" },
      credentials: "same-origin",
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (type.indexOf("text/event-stream") < 0) {
          // Refused before any reply (the page with what went wrong, or an error page).
          return response.text().then(function (html) {
            ended = true;
            document.open();
            document.write(html);
            document.close();
          });
        }
        return readEvents(response.body, function (name, data) {
          if (name === "text") {
            reply.textContent += data;
          } else if (name === "done") {
            // The conversation as kept, on its own page (the first message opened it).
            ended = true;
            window.location.assign(data);
          } else if (name === "problem") {
            // Not kept: the message goes back into its box, with what went wrong.
            ended = true;
            reply.parentNode.remove();
            var shown = document.getElementById("messages").lastElementChild;
            if (shown) {
              shown.remove();
            }
            var problem = document.getElementById("chat-problem") || document.createElement("div");
            problem.id = "chat-problem";
            problem.className = "problem";
            problem.setAttribute("role", "alert");
            problem.textContent = data;
            form.before(problem);
            box.value = said;
            button.disabled = false;
          }
        });
      })
      .catch(function () {})
      .then(function () {
        if (!ended) {
          window.location.reload();
        }
      });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form && form.id === "say") {
      send(form, event);
    }
  });
})();
