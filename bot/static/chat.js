// Web chat for the movie assistant: talks to Rasa's REST channel and renders its replies.
//
// Every piece of text from the user or the bot is put into the page with textContent or
// setAttribute, never parsed as HTML, so a title such as "<b>Heat</b>" shows its brackets.
// The sender id is a random UUID kept in localStorage: the same browser keeps its ratings and
// its history across reloads, and the transcript is saved there too.
(function () {
  "use strict";

  const STORAGE_KEYS = {
    sender: "movie-chat.sender-id",
    transcript: "movie-chat.transcript.v1",
  };
  const MAX_SAVED_ENTRIES = 200;
  const REQUEST_TIMEOUT_MS = 60000;
  const GREETING_PAYLOAD = "/greet";

  const transcriptList = document.getElementById("transcript");
  const statusLine = document.getElementById("status");
  const composer = document.getElementById("composer");
  const messageInput = document.getElementById("message");
  const clearButton = document.getElementById("clear");

  // ---- storage -------------------------------------------------------------------------------

  // localStorage throws in some private modes; the chat then works for this page view only.
  const storage = (function () {
    try {
      const probe = "movie-chat.probe";
      window.localStorage.setItem(probe, "1");
      window.localStorage.removeItem(probe);
      return window.localStorage;
    } catch (error) {
      return null;
    }
  })();

  function newUuid() {
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    const hex = Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
      hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function loadSenderId() {
    const saved = storage && storage.getItem(STORAGE_KEYS.sender);
    if (saved && /^[0-9a-f-]{36}$/.test(saved)) {
      return saved;
    }
    const created = newUuid();
    if (storage) {
      storage.setItem(STORAGE_KEYS.sender, created);
    }
    return created;
  }

  function loadTranscript() {
    if (!storage) {
      return [];
    }
    try {
      const saved = JSON.parse(storage.getItem(STORAGE_KEYS.transcript) || "[]");
      return Array.isArray(saved) ? saved.filter(isEntry) : [];
    } catch (error) {
      return [];
    }
  }

  function saveTranscript() {
    if (!storage) {
      return;
    }
    const kept = entries.filter(function (entry) { return entry.kind !== "notice"; }).slice(-MAX_SAVED_ENTRIES);
    try {
      storage.setItem(STORAGE_KEYS.transcript, JSON.stringify(kept));
    } catch (error) {
      // A full storage quota loses only the saved copy; the conversation on screen goes on.
    }
  }

  function isEntry(value) {
    return value !== null && typeof value === "object" && ["user", "bot", "notice"].indexOf(value.kind) >= 0;
  }

  // ---- small DOM helpers ---------------------------------------------------------------------

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  function scrollToEnd() {
    transcriptList.lastElementChild && transcriptList.lastElementChild.scrollIntoView({ block: "end" });
  }

  function setStatus(text) {
    statusLine.textContent = text || "";
  }

  // ---- payload parsing -----------------------------------------------------------------------

  // A button is a star if its payload is "/<intent>{...}" with a "score" or "rating" entity from
  // 0.5 to 5, as in '/give_score{"score": 4}' or '/rate{"movie_id": 6, "rating": 4}'.
  function parseScorePayload(payload) {
    const match = typeof payload === "string" ? /^\/[A-Za-z0-9_]+(\{.*\})$/.exec(payload) : null;
    if (!match) {
      return null;
    }
    try {
      const entities = JSON.parse(match[1]);
      const value = entities.score !== undefined ? entities.score : entities.rating;
      const score = Number(value);
      return value !== null && Number.isFinite(score) && score >= 0.5 && score <= 5 ? score : null;
    } catch (error) {
      return null;
    }
  }

  // A card's own stars send the sentence a person would type, with the year to pick the right movie,
  // because the assistant reads ratings from text and takes no movie id from a rating payload.
  function cardRatingMessage(movie, score) {
    return "Rate " + movieLabel(movie) + " " + score + (score === 1 ? " star" : " stars");
  }

  function validButtons(buttons) {
    if (!Array.isArray(buttons)) {
      return [];
    }
    return buttons.filter(function (button) {
      return button && typeof button.payload === "string" && button.payload !== "" &&
        (typeof button.title === "string" || typeof button.title === "number");
    });
  }

  function cleanMovie(movie) {
    if (!movie || typeof movie !== "object" || movie.title === undefined || movie.title === null) {
      return null;
    }
    const genres = Array.isArray(movie.genres) ? movie.genres.map(String)
      : (typeof movie.genres === "string" && movie.genres ? movie.genres.split("|") : []);
    const year = Number(movie.year);
    const predicted = movie.predicted_rating === null || movie.predicted_rating === undefined
      ? NaN : Number(movie.predicted_rating);
    return {
      title: String(movie.title),
      year: Number.isInteger(year) && year > 0 ? year : null,
      genres: genres,
      reason: typeof movie.reason === "string" ? movie.reason : "",
      predicted: Number.isFinite(predicted) ? predicted : null,
    };
  }

  function isMovieCards(reply) {
    return Boolean(reply && reply.custom && reply.custom.type === "movie_cards" && Array.isArray(reply.custom.movies));
  }

  // The assistant sends every list twice: as numbered text lines for text-only channels, then as
  // cards. Here the cards show the list, so a text made of a heading and "1. ..." lines keeps only
  // its heading. Any other text is shown whole.
  function shownText(entry) {
    const lines = String(entry.text).split("\n");
    const numbered = lines.slice(1).filter(function (line) { return line.trim() !== ""; });
    if (entry.cardsFollow && numbered.length > 0 && numbered.every(function (line) { return /^\d+\.\s/.test(line); })) {
      return lines[0];
    }
    return entry.text;
  }

  function movieLabel(movie) {
    return movie.year ? movie.title + " (" + movie.year + ")" : movie.title;
  }

  // ---- rendering -----------------------------------------------------------------------------

  function renderEntry(entry) {
    const item = element("li", "message " + entry.kind);
    if (entry.kind === "user") {
      item.appendChild(element("span", "visually-hidden", "You: "));
      item.appendChild(element("p", "bubble", entry.text));
    } else if (entry.kind === "notice") {
      item.appendChild(element("p", "bubble", entry.text));
    } else {
      item.appendChild(element("span", "visually-hidden", "Assistant: "));
      if (typeof entry.text === "string" && entry.text !== "") {
        item.appendChild(element("p", "bubble", shownText(entry)));
      }
      const custom = entry.custom;
      if (custom && custom.type === "movie_cards" && Array.isArray(custom.movies)) {
        item.appendChild(renderCards(custom.movies, entry));
      }
      const buttons = validButtons(entry.buttons);
      if (buttons.length > 0) {
        item.appendChild(renderButtons(buttons, entry));
      }
    }
    transcriptList.appendChild(item);
    return item;
  }

  function renderButtons(buttons, entry) {
    const ratings = buttons.map(function (button) { return parseScorePayload(button.payload); });
    const isRating = ratings.every(function (rating) { return rating !== null; });
    const group = element("div", isRating ? "choices stars" : "choices");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", isRating ? "Your rating" : "Suggested replies");

    buttons.forEach(function (button, index) {
      const title = String(button.title);
      const node = element("button", isRating ? "choice star" : "choice");
      node.type = "button";
      if (isRating) {
        node.appendChild(element("span", "star-glyph", "★"));
        node.appendChild(element("span", "star-value", String(ratings[index])));
        // The bot's title may be all glyphs ("★★★★ 4"), so screen readers get the number in words.
        node.setAttribute("aria-label", ratings[index] + (ratings[index] === 1 ? " star" : " stars"));
        node.title = title;
        node.dataset.level = String(ratings[index]);
      } else {
        node.textContent = title;
      }
      if (entry.answered !== undefined) {
        node.disabled = true;
        if (entry.answered === index) {
          node.classList.add("chosen");
          node.setAttribute("aria-pressed", "true");
        }
      }
      node.addEventListener("click", function (event) {
        if (entry.answered !== undefined) {
          return;
        }
        entry.answered = index;
        markAnswered(group, node);
        saveTranscript();
        keepKeyboardFocus(event);
        send(button.payload, title);
      });
      group.appendChild(node);
    });
    if (isRating) {
      highlightStars(group);
    }
    return group;
  }

  // A clicked choice is disabled, which drops the keyboard focus; move it to the message box. A
  // click from the keyboard has event.detail 0. Pointer and touch clicks leave the focus alone, so a
  // phone does not pop up its keyboard after every tap.
  function keepKeyboardFocus(event) {
    if (event.detail === 0) {
      messageInput.focus();
    }
  }

  function markAnswered(group, chosen) {
    Array.prototype.forEach.call(group.querySelectorAll("button"), function (button) {
      button.disabled = true;
    });
    chosen.classList.add("chosen");
    chosen.setAttribute("aria-pressed", "true");
  }

  // Hovering or focusing star k lights stars 1..k, as people expect of a star rating.
  function highlightStars(group) {
    function light(level) {
      Array.prototype.forEach.call(group.querySelectorAll(".star"), function (star) {
        star.classList.toggle("lit", Number(star.dataset.level) <= level);
      });
    }
    group.addEventListener("mouseover", function (event) {
      const star = event.target.closest(".star");
      if (star && !star.disabled) {
        light(Number(star.dataset.level));
      }
    });
    group.addEventListener("focusin", function (event) {
      const star = event.target.closest(".star");
      if (star) {
        light(Number(star.dataset.level));
      }
    });
    group.addEventListener("mouseleave", function () { light(chosenLevel(group)); });
    group.addEventListener("focusout", function () { light(chosenLevel(group)); });
    light(chosenLevel(group));
  }

  function chosenLevel(group) {
    const chosen = group.querySelector(".star.chosen");
    return chosen ? Number(chosen.dataset.level) : 0;
  }

  function renderCards(rawMovies, entry) {
    const list = element("ul", "cards");
    list.setAttribute("aria-label", "Suggested movies");
    entry.cardRatings = entry.cardRatings || {};
    rawMovies.map(cleanMovie).filter(Boolean).forEach(function (movie, index) {
      const card = element("li", "card");
      const heading = element("h3", "card-title", movie.title);
      if (movie.year) {
        heading.appendChild(document.createTextNode(" "));
        heading.appendChild(element("span", "card-year", "(" + movie.year + ")"));
      }
      card.appendChild(heading);
      if (movie.genres.length > 0) {
        card.appendChild(element("p", "card-genres", movie.genres.join(" · ")));
      }
      if (movie.reason) {
        const reason = element("p", "card-reason");
        reason.appendChild(element("span", "card-label", "Why: "));
        reason.appendChild(document.createTextNode(movie.reason));
        card.appendChild(reason);
      }
      if (movie.predicted !== null) {
        card.appendChild(element("p", "card-score", "Predicted rating: " + movie.predicted.toFixed(1) + " / 5"));
      }
      card.appendChild(renderCardRating(movie, entry, index));
      list.appendChild(card);
    });
    return list;
  }

  // A "Rate" toggle per card keeps the tab order short: the five stars appear only when asked for.
  function renderCardRating(movie, entry, index) {
    const wrapper = element("div", "card-rate");
    const toggle = element("button", "secondary rate-toggle", "Rate");
    toggle.type = "button";
    toggle.setAttribute("aria-expanded", "false");
    toggle.setAttribute("aria-label", "Rate " + movieLabel(movie));
    const stars = element("div", "choices stars");
    stars.setAttribute("role", "group");
    stars.setAttribute("aria-label", "Your rating for " + movieLabel(movie));
    stars.hidden = true;
    const given = entry.cardRatings[index];

    for (let level = 1; level <= 5; level += 1) {
      const star = element("button", "choice star");
      star.type = "button";
      star.dataset.level = String(level);
      star.appendChild(element("span", "star-glyph", "★"));
      star.appendChild(element("span", "star-value", String(level)));
      const label = level + (level === 1 ? " star" : " stars");
      star.setAttribute("aria-label", label + " for " + movieLabel(movie));
      star.title = label;
      if (given !== undefined) {
        star.disabled = true;
        if (given === level) {
          star.classList.add("chosen");
          star.setAttribute("aria-pressed", "true");
        }
      }
      star.addEventListener("click", function (event) {
        entry.cardRatings[index] = level;
        markAnswered(stars, star);
        saveTranscript();
        keepKeyboardFocus(event);
        toggle.textContent = "Rated " + level + "/5";
        toggle.disabled = true;
        const message = cardRatingMessage(movie, level);
        send(message, message);
      });
      stars.appendChild(star);
    }
    highlightStars(stars);

    if (given !== undefined) {
      toggle.textContent = "Rated " + given + "/5";
      toggle.disabled = true;
    }
    toggle.addEventListener("click", function () {
      const opening = stars.hidden;
      stars.hidden = !opening;
      toggle.setAttribute("aria-expanded", String(opening));
      if (opening) {
        stars.querySelector("button").focus();
      }
    });
    wrapper.appendChild(toggle);
    wrapper.appendChild(stars);
    return wrapper;
  }

  // ---- conversation --------------------------------------------------------------------------

  let entries = [];
  let restUrlPromise = null;
  let senderId = null;
  let queue = Promise.resolve();

  function addEntry(entry) {
    entries.push(entry);
    renderEntry(entry);
    saveTranscript();
    scrollToEnd();
  }

  function addNotice(text) {
    addEntry({ kind: "notice", text: text });
  }

  // Messages go out one at a time, so replies appear in the order the questions were asked.
  function send(message, shownText, options) {
    const silent = options && options.silent;
    if (!silent) {
      addEntry({ kind: "user", text: shownText === undefined ? message : shownText });
    }
    queue = queue.then(function () { return deliver(message, options); });
    return queue;
  }

  async function deliver(message, options) {
    setStatus("The assistant is thinking…");
    const restUrl = await restUrlPromise;
    const controller = new AbortController();
    const timer = window.setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS);
    try {
      const response = await window.fetch(restUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sender: senderId, message: message }),
        signal: controller.signal,
      });
      if (!response.ok) {
        addNotice("The assistant replied with HTTP " + response.status + ", so this message may not have been handled. Please try again.");
        return;
      }
      const replies = await response.json();
      if (!Array.isArray(replies)) {
        addNotice("The assistant sent a reply this page cannot read.");
        return;
      }
      replies.forEach(function (reply, index) {
        // Only text, buttons and custom payloads are rendered; an image-only message has nothing to show.
        if (!reply || typeof reply !== "object" || !(reply.text || reply.buttons || reply.custom)) {
          return;
        }
        addEntry({
          kind: "bot", text: reply.text, buttons: reply.buttons, custom: reply.custom,
          cardsFollow: isMovieCards(replies[index + 1]),
        });
      });
    } catch (error) {
      const reason = error && error.name === "AbortError" ? "no response within " + REQUEST_TIMEOUT_MS / 1000 + " s" : "it could not be reached";
      addNotice("Your message was not delivered: " + reason + " (" + restUrl + "). Is the assistant running? Please try again.");
      if (options && options.restoreText && messageInput.value === "") {
        messageInput.value = options.restoreText;
      }
    } finally {
      window.clearTimeout(timer);
      setStatus("");
    }
  }

  function restore() {
    transcriptList.setAttribute("aria-busy", "true");
    entries = loadTranscript();
    entries.forEach(renderEntry);
    transcriptList.setAttribute("aria-busy", "false");
    scrollToEnd();
  }

  async function loadConfig() {
    let config = {};
    try {
      const response = await window.fetch("config.json", { cache: "no-store" });
      if (response.ok) {
        config = await response.json();
      }
    } catch (error) {
      // Defaults below: Rasa on this page's host at its standard port.
    }
    const base = config.rasa_url || (window.location.protocol + "//" + window.location.hostname + ":" + (config.rasa_port || 5005));
    return base.replace(/\/+$/, "") + (config.rest_path || "/webhooks/rest/webhook");
  }

  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = messageInput.value.trim();
    if (text === "") {
      messageInput.focus();
      return;
    }
    messageInput.value = "";
    send(text, text, { restoreText: text });
  });

  // Following "#message" alone scrolls but may leave the focus where it was; the link is for keyboards.
  document.querySelector(".skip-link").addEventListener("click", function (event) {
    event.preventDefault();
    messageInput.focus();
  });

  clearButton.addEventListener("click", function () {
    if (!window.confirm("Clear the transcript on this device? Your ratings stay stored.")) {
      return;
    }
    entries = [];
    saveTranscript();
    transcriptList.textContent = "";
    messageInput.focus();
  });

  async function start() {
    senderId = loadSenderId();
    restUrlPromise = loadConfig();
    document.documentElement.dataset.senderId = senderId;
    restore();
    if (!storage) {
      addNotice("This browser does not allow local storage, so the chat forgets you when the page closes.");
    }
    await restUrlPromise;
    composer.dataset.ready = "true";
    if (entries.length === 0) {
      send(GREETING_PAYLOAD, null, { silent: true });
    }
  }

  start();
})();
