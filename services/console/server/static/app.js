// Muster console: the few live parts of the pages. Plain JavaScript, no
// dependencies; every page works without it except the live updates.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : "";

  function debounce(fn, ms) {
    var t;
    return function () { clearTimeout(t); t = setTimeout(fn, ms); };
  }
  function text(id, s) { var el = document.getElementById(id); if (el) { el.textContent = s; } }
  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }
  function audienceText(a) {
    if (!a) { return ""; }
    var s = plural(a.reachable, "person", "people") + " can be texted";
    if (a.excluded) { s += " (" + a.excluded + " opted out or without a phone)"; }
    return s + ".";
  }
  function emailText(a) {
    if (!a || !a.email) { return ""; }
    var s = plural(a.email.reachable, "person", "people") + " can be emailed";
    var out = (a.email.opted_out || 0) + (a.email.no_address || 0);
    if (out) { s += " (" + out + " opted out or without an email address)"; }
    return s + ".";
  }

  // Forms that ask before they act (cancel a campaign).
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });

  // The new-campaign form: the fields the chosen kind and channel need,
  // and a live count of the tag's audience on each chosen channel.
  var compose = document.getElementById("compose");
  var countInput = document.querySelector("#compose [data-count]");
  if (compose) {
    var kind = document.getElementById("kind");
    var channel = document.getElementById("channel");
    var last = null;
    var showCount = function () {
      if (!last) { text("audience-count", ""); return; }
      var ch = channel ? channel.value : "sms";
      var parts = [];
      if (ch !== "email") { parts.push(audienceText(last)); }
      if (ch !== "sms") { parts.push(emailText(last)); }
      text("audience-count", parts.join(" "));
    };
    var fit = function () {
      compose.querySelectorAll("[data-kind]").forEach(function (el) {
        el.hidden = !kind || el.getAttribute("data-kind") !== kind.value;
      });
      compose.querySelectorAll("[data-channel]").forEach(function (el) {
        var ch = channel ? channel.value : "sms";
        el.hidden = ch !== "both" && el.getAttribute("data-channel") !== ch;
      });
      showCount();
    };
    if (kind) { kind.addEventListener("change", fit); }
    if (channel) { channel.addEventListener("change", fit); }
    var tz = document.getElementById("time_zone");
    if (tz && !tz.value && window.Intl) {
      try { tz.value = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* leave it for the organizer */ }
    }
    fit();
    if (countInput) {
      var count = debounce(function () {
        var tag = countInput.value.trim();
        if (!tag) { last = null; showCount(); return; }
        fetch("/campaigns/audience-count?tag=" + encodeURIComponent(tag), { headers: { Accept: "application/json" } })
          .then(function (r) { return r.json(); })
          .then(function (a) { last = a; showCount(); })
          .catch(function () { text("audience-count", "The audience could not be counted."); });
      }, 300);
      countInput.addEventListener("input", count);
      count();
    }
  }

  // The draft editor: saves as the organizer types and shows campaigns'
  // own rendering, length and warnings.
  var editor = document.getElementById("editor");
  if (editor) {
    var field = function (id) { return document.getElementById(id); };
    var pending = null;
    var save = function () {
      text("save-state", "Saving…");
      pending = fetch(editor.getAttribute("data-draft"), {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ name: field("name").value, tag: field("tag").value, body: field("body").value })
      }).then(function (r) { return r.json(); }).then(function (p) {
        if (p.error && !p.saved) {
          text("save-state", "Not saved: " + p.error);
          editor.setAttribute("data-invalid", "true");
        } else {
          text("save-state", "Draft saved.");
          editor.removeAttribute("data-invalid");
        }
        if (p.saved) {
          text("preview", p.text);
          var c = p.units + " characters, " + plural(p.segments, "segment", "segments") + " (" + p.encoding + ")";
          if (p.encoding === "UCS-2") {
            c += ". Warning: a character outside GSM-7 (an emoji or a curly quote) makes every segment hold 70 characters, not 160.";
            if (p.plain) { c += " Straight quotes and dashes would fit in GSM-7."; }
          }
          text("counter", c);
          var w = field("warnings");
          w.textContent = "";
          (p.warnings || []).forEach(function (s) {
            var el = document.createElement("p");
            el.className = "warning";
            el.textContent = s;
            w.appendChild(el);
          });
        }
        text("audience-count", audienceText(p.audience));
        return p;
      }).catch(function () { text("save-state", "Could not save; check your connection."); });
      return pending;
    };
    var later = debounce(save, 400);
    ["name", "tag", "body"].forEach(function (id) { field(id).addEventListener("input", later); });
    save();
    editor.addEventListener("submit", function (e) {
      e.preventDefault();
      save().then(function (p) {
        if (!p || (p.error && !p.saved)) { return; }
        var when = field("when").value;
        var url = editor.getAttribute("action");
        // The time is the organization's, as the label says; the server
        // reads it in the organization's zone, whatever this browser's is.
        if (when) { url += "?local=" + encodeURIComponent(when); }
        window.location.assign(url);
      });
    });
  }

  // Campaign results, live from the console's relay of campaigns' stream.
  var results = document.querySelector("#results[data-stream]");
  if (results && window.EventSource) {
    var es = new EventSource(results.getAttribute("data-stream"));
    es.addEventListener("results", function (e) {
      var r = JSON.parse(e.data);
      r.waiting = (r.pending || 0) + (r.queued || 0);
      results.querySelectorAll("[data-k]").forEach(function (el) {
        var v = r;
        el.getAttribute("data-k").split(".").forEach(function (k) { v = v == null ? v : v[k]; });
        if (v !== undefined && v !== null) { el.textContent = v; }
      });
      // A new status changes what the page says and offers (its words,
      // the buttons, what still waits): the server draws it again.
      var st = document.getElementById("campaign-status");
      if (r.status && st && st.getAttribute("data-status") !== r.status) {
        st.setAttribute("data-status", r.status);
        es.close();
        window.location.reload();
        return;
      }
      text("live", "● live");
    });
    es.onerror = function () { text("live", ""); };
  }

  // Import progress: poll until the import is done, then show the report.
  var imp = document.querySelector("#import[data-import]");
  if (imp && imp.getAttribute("data-finished") !== "true") {
    var poll = function () {
      fetch("/contacts/imports/" + encodeURIComponent(imp.getAttribute("data-import")) + "/status", { headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (s) {
          text("import-state", s.state);
          imp.querySelectorAll("[data-k]").forEach(function (el) {
            var v = s[el.getAttribute("data-k")];
            if (v !== undefined) { el.textContent = v; }
          });
          if (s.state === "done" || s.state === "failed") { window.location.reload(); return; }
          setTimeout(poll, 700);
        })
        .catch(function () { setTimeout(poll, 2000); });
    };
    setTimeout(poll, 500);
  }
  // Tables on a phone: each row becomes a card and each cell says which
  // column it is, so nothing scrolls sideways and no column is hidden
  // (app.css lays them out so below 700 px wide).
  document.querySelectorAll(".scroll table").forEach(function (table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    if (!heads.length) { return; }
    table.classList.add("cards");
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      Array.prototype.forEach.call(tr.children, function (cell, i) {
        if (heads[i] && !cell.hasAttribute("data-label")) { cell.setAttribute("data-label", heads[i]); }
      });
    });
  });
})();
