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

  // The campaign form (new campaign and editor): the fields the chosen
  // kind and channel need, and a live count of the tag's audience on each
  // chosen channel. data-kind may name several kinds.
  var compose = document.getElementById("compose");
  var editorPage = document.getElementById("editor-page");
  var formRoot = compose || editorPage;
  var countInput = document.querySelector("#compose [data-count]");
  var kind = document.getElementById("kind");
  var channel = document.getElementById("channel");
  var last = null;
  var showCount = function () {
    if (!countInput) { return; } // the audience builder keeps its own count
    if (!last) { text("audience-count", ""); return; }
    var ch = channel ? channel.value : "sms";
    var parts = [];
    if (ch !== "email") { parts.push(audienceText(last)); }
    if (ch !== "sms") { parts.push(emailText(last)); }
    text("audience-count", parts.join(" "));
  };
  if (formRoot) {
    var fit = function () {
      formRoot.querySelectorAll("[data-kind]").forEach(function (el) {
        el.hidden = !kind || el.getAttribute("data-kind").split(" ").indexOf(kind.value) < 0;
      });
      formRoot.querySelectorAll("[data-channel]").forEach(function (el) {
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
  }
  if (compose && countInput) {
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

  // The draft editor: saves every field as the organizer types and shows
  // campaigns' own rendering, length and warnings, and the email in its
  // sandboxed frame. Without script, "Save draft" posts the form.
  var editor = document.getElementById("editor");
  if (editor) {
    var field = function (id) { return document.getElementById(id); };
    var skip = { csrf: true, when: true, next: true };
    var fields = function () {
      var out = {};
      editor.querySelectorAll("input[name], select[name], textarea[name]").forEach(function (el) {
        if (skip[el.name] || ((el.type === "checkbox" || el.type === "radio") && !el.checked)) { return; }
        out[el.name] = el.value;
      });
      return out;
    };
    var frame = field("email-frame");
    var pending = null;
    var inflight = 0;
    var timer = null;
    var save = function () {
      clearTimeout(timer);
      text("save-state", "Saving…");
      inflight++;
      pending = fetch(editor.getAttribute("data-draft"), {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(fields())
      }).then(function (r) {
        return r.json().then(function (p) {
          if (!r.ok) { p.saved = false; p.error = p.error || "the campaign could not be saved"; }
          return p;
        });
      }).then(function (p) {
        if (p.error && !p.saved) {
          text("save-state", "Not saved: " + p.error);
          editor.setAttribute("data-invalid", "true");
        } else {
          text("save-state", "Draft saved.");
          editor.removeAttribute("data-invalid");
        }
        if (p.saved) {
          text("preview", p.text);
          var c = p.encoding ? p.units + " characters, " + plural(p.segments, "segment", "segments") + " (" + p.encoding + ")" : "";
          if (p.encoding === "UCS-2") {
            c += ". Warning: a character outside GSM-7 (an emoji or a curly quote) makes every segment hold 70 characters, not 160.";
            if (p.plain) { c += " Straight quotes and dashes would fit in GSM-7."; }
          }
          text("counter", c);
          text("email-subject", p.subject || "");
          if (frame && p.email) { frame.src = frame.getAttribute("data-src") + "?v=" + Date.now(); }
          var w = field("warnings");
          w.textContent = "";
          (p.warnings || []).forEach(function (s) {
            var el = document.createElement("p");
            el.className = "warning";
            el.textContent = s;
            w.appendChild(el);
          });
        }
        last = p.audience || null;
        showCount();
        return p;
      }).catch(function () { text("save-state", "Could not save; check your connection."); })
        .then(function (p) { inflight--; return p; });
      return pending;
    };
    var later = function () { clearTimeout(timer); timer = setTimeout(save, 400); };
    // One listener for every field, the audience builder's added rows
    // included.
    var edited = function (e) {
      var el = e.target;
      if (el && el.name && !skip[el.name] && el.type !== "hidden") { later(); }
    };
    editor.addEventListener("input", edited);
    editor.addEventListener("change", edited);
    // The preview is drawn by the server and the audience builder counts
    // for itself, so opening the editor writes nothing.
    editor.addEventListener("submit", function (e) {
      var by = e.submitter;
      if (!by || by.value !== "review") {
        // "Save draft" posts the form, once no autosave is under way, so
        // an earlier version can never land after it.
        clearTimeout(timer);
        if (!inflight) { return; }
        e.preventDefault();
        pending.then(function () {
          var next = document.createElement("input");
          next.type = "hidden";
          next.name = "next";
          next.value = "save";
          editor.appendChild(next);
          HTMLFormElement.prototype.submit.call(editor);
        });
        return;
      }
      e.preventDefault();
      save().then(function (p) {
        if (!p || (p.error && !p.saved)) { return; }
        var when = field("when").value;
        var url = editor.getAttribute("data-launch");
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

  // Inbox: picking a saved reply fills the reply box at once (without
  // JavaScript the Use button reloads the page with it filled in), and
  // j / k move between conversations, Enter (a link) opens one.
  document.querySelectorAll("select[data-fill]").forEach(function (sel) {
    var box = document.getElementById(sel.getAttribute("data-fill"));
    if (!box) { return; }
    sel.addEventListener("change", function () {
      var opt = sel.options[sel.selectedIndex];
      if (!opt || !opt.value) { return; }
      box.value = opt.getAttribute("data-body") || "";
      box.focus();
    });
  });
  var convs = document.querySelectorAll("#conversations a.conv-open");
  if (convs.length) {
    document.addEventListener("keydown", function (e) {
      if (e.altKey || e.ctrlKey || e.metaKey || (e.key !== "j" && e.key !== "k")) { return; }
      var t = e.target;
      if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) { return; }
      var at = Array.prototype.indexOf.call(convs, document.activeElement);
      var next = e.key === "j" ? at + 1 : (at < 0 ? 0 : at - 1);
      if (next >= 0 && next < convs.length) { convs[next].focus(); e.preventDefault(); }
    });
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

  // Audiences from several conditions (the "audience" partial): rows
  // added and removed here, the attribute name shown only where a row
  // needs it, tag suggestions from /api/tags as the organizer types, and
  // the live count of who would get it. Without this script the form's
  // own buttons do the same by submitting.
  function suggestTags(input, listID) {
    var list = document.getElementById(listID);
    if (!list) { return; }
    var fill = debounce(function () {
      var q = input.value.trim();
      fetch("/api/tags?limit=20&q=" + encodeURIComponent(q), { headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) {
          if (!d || !d.tags) { return; }
          list.textContent = "";
          d.tags.forEach(function (t) {
            var o = document.createElement("option");
            o.value = t.tag;
            o.textContent = t.tag + " (" + t.count + ")";
            list.appendChild(o);
          });
        })
        .catch(function () { /* suggestions are a help, not a need */ });
    }, 200);
    input.addEventListener("input", function () { if (input.getAttribute("list") === listID) { fill(); } });
  }
  document.querySelectorAll("input[data-tag-suggest]").forEach(function (el) {
    suggestTags(el, el.getAttribute("data-tag-suggest"));
  });

  document.querySelectorAll("[data-audience]").forEach(function (box) {
    var rows = box.querySelector("[data-aud-rows]");
    var max = parseInt(box.getAttribute("data-max"), 10) || 12;
    var addBtn = box.querySelector("[data-aud-add]");
    var countBtn = box.querySelector("[data-aud-count]");
    var channelSel = document.getElementById("channel");
    var tagKind = function (k) { return k === "tag" || k === "no_tag"; };
    var fitRow = function (row) {
      var kind = row.querySelector("[data-aud-kind]").value;
      row.querySelector("[data-aud-attr]").hidden = kind !== "attr";
      var v = row.querySelector("[data-aud-value]");
      if (tagKind(kind)) { v.setAttribute("list", "aud-tags"); } else { v.removeAttribute("list"); }
      var names = { tag: "Tag", no_tag: "Tag", worksite: "Worksite", shift: "Shift", language: "Language (such as es)", attr: "Value",
        support_is: "Level (1 leader to 5 opposed)", support_max: "Level (1 leader to 5 opposed)", support_min: "Level (1 leader to 5 opposed)" };
      row.querySelector(".aud-value").hidden = kind === "unassessed";
      row.querySelector("[data-aud-value-label]").textContent = names[kind] || "Tag or value";
    };
    var renumber = function () {
      var all = rows.querySelectorAll("[data-aud-row]");
      all.forEach(function (row, i) {
        row.querySelector("[data-aud-label]").textContent = "Condition " + (i + 1);
        var rm = row.querySelector("[data-aud-remove]");
        rm.hidden = all.length < 2;
        rm.setAttribute("aria-label", "Remove condition " + (i + 1));
      });
      if (addBtn) { addBtn.hidden = all.length >= max; }
    };
    var freeIndex = function () {
      var used = {};
      rows.querySelectorAll("[data-aud-row]").forEach(function (r) { used[r.getAttribute("data-index")] = true; });
      for (var i = 0; i < max; i++) { if (!used[String(i)]) { return i; } }
      return -1;
    };
    var wire = function (row) {
      row.querySelector("[data-aud-kind]").addEventListener("change", function () { fitRow(row); });
      row.querySelector("[data-aud-remove]").addEventListener("click", function () {
        row.parentNode.removeChild(row);
        renumber();
        count();
      });
      suggestTags(row.querySelector("[data-aud-value]"), "aud-tags");
      fitRow(row);
    };
    var words = function (a) {
      var n = a.total || 0;
      var s = (n === 1 ? "1 member matches" : n + " members match") + ": ";
      var ch = channelSel ? channelSel.value : "both";
      var sms = (a.sms && a.sms.reachable) || 0;
      var email = (a.email && a.email.reachable) || 0;
      if (ch === "sms") { return s + sms + " can be texted."; }
      if (ch === "email") { return s + email + " can be emailed."; }
      return s + sms + " can be texted, " + email + " can be emailed.";
    };
    var seq = 0;
    var count = debounce(function () {
      var q = new URLSearchParams();
      box.querySelectorAll("input[name^='aud_'], select[name^='aud_']").forEach(function (el) {
        if (el.type === "checkbox" && !el.checked) { return; }
        if (el.type === "submit" || el.type === "button") { return; }
        q.append(el.name, el.value);
      });
      var mine = ++seq;
      box.setAttribute("data-counting", "true");
      fetch("/campaigns/audience-count?" + q.toString(), { headers: { Accept: "application/json" } })
        .then(function (r) { return r.json().then(function (d) { return { ok: r.ok, d: d }; }); })
        .then(function (res) {
          if (mine !== seq) { return; }
          box.removeAttribute("data-counting");
          box.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
          if (!res.ok) {
            text("audience-count", res.d.error || "The audience could not be counted.");
            return;
          }
          text("audience-count", res.d.total === undefined || (!res.d.total && !q.toString().match(/aud_value_\d+=[^&]|aud_kind_\d+=unassessed/)) ? "" : words(res.d));
        })
        .catch(function () { if (mine === seq) { text("audience-count", "The audience could not be counted."); } });
    }, 300);
    rows.querySelectorAll("[data-aud-row]").forEach(wire);
    if (countBtn) { countBtn.hidden = true; }
    if (addBtn) {
      addBtn.type = "button"; // Enter in the form saves it, as without the builder
      addBtn.addEventListener("click", function () {
        var i = freeIndex();
        var last = rows.querySelector("[data-aud-row]:last-child");
        if (i < 0 || !last) { return; }
        var row = last.cloneNode(true);
        row.setAttribute("data-index", String(i));
        row.querySelectorAll("[id]").forEach(function (el) { el.id = el.id.replace(/_\d+$/, "_" + i); });
        row.querySelectorAll("[for]").forEach(function (el) { el.htmlFor = el.htmlFor.replace(/_\d+$/, "_" + i); });
        row.querySelectorAll("[name]").forEach(function (el) { el.name = el.name.replace(/_\d+$/, "_" + i); });
        row.querySelectorAll("input").forEach(function (el) {
          if (el.type === "checkbox") { el.checked = false; } else { el.value = ""; }
          el.removeAttribute("aria-invalid");
        });
        row.querySelector("[data-aud-kind]").value = "tag";
        rows.appendChild(row);
        wire(row);
        renumber();
        row.querySelector("[data-aud-kind]").focus();
      });
    }
    box.addEventListener("input", count);
    box.addEventListener("change", count);
    if (channelSel) { channelSel.addEventListener("change", count); }
    renumber();
    count();
  });
})();
