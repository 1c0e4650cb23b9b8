/*
 * fedchain explorer: live overview (polls /api/overview every 2 s) and deadline countdowns.
 *
 * MIT License
 *
 * Copyright (c) 2026 the fedchain authors
 *
 * Permission is hereby granted, free of charge, to any person obtaining a copy of this
 * software and associated documentation files (the "Software"), to deal in the Software
 * without restriction, including without limitation the rights to use, copy, modify,
 * merge, publish, distribute, sublicense, and/or sell copies of the Software, and to
 * permit persons to whom the Software is furnished to do so, subject to the following
 * conditions:
 *
 * The above copyright notice and this permission notice shall be included in all copies
 * or substantial portions of the Software.
 *
 * THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
 * INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A
 * PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT
 * HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF
 * CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE
 * OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
 */
"use strict";

(function () {
  var POLL_MS = 2000;
  var skew = 0; // chain time minus this browser's clock, in seconds

  function fed(wei) {
    var s = String(wei || "0").replace(/^0+(?=\d)/, "");
    var whole = s.length > 18 ? s.slice(0, s.length - 18) : "0";
    var frac = (s.length > 18 ? s.slice(s.length - 18) : s.padStart(18, "0")).replace(/0+$/, "");
    return whole + (frac ? "." + frac : "") + " FED";
  }

  function inWords(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + " s";
    var minutes = Math.ceil(seconds / 60);
    if (minutes < 60) return minutes + " min";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function text(id, value) {
    var el = document.getElementById(id);
    if (el && el.textContent !== String(value)) el.textContent = value;
  }

  function wei(id, value) {
    var el = document.getElementById(id);
    if (!el) return;
    el.setAttribute("data-wei", value);
    el.textContent = fed(value);
  }

  function tick() {
    var el = document.getElementById("deadline");
    if (!el) return;
    var at = Number(el.getAttribute("data-unix"));
    if (!at) { text("deadline", "-"); return; }
    var now = Date.now() / 1000 + skew;
    text("deadline", at > now ? "in " + inWords(at - now) : inWords(now - at) + " ago");
  }

  function cell(tag, cls, content, weiValue) {
    var td = document.createElement(tag);
    if (cls) td.className = cls;
    if (weiValue !== undefined) { td.setAttribute("data-wei", weiValue); td.textContent = fed(weiValue); }
    else if (content instanceof Node) td.appendChild(content);
    else td.textContent = content;
    return td;
  }

  function link(href, label) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = label;
    return a;
  }

  function short(s) {
    return !s ? "-" : s.length <= 21 ? s : s.slice(0, 10) + "\u2026" + s.slice(-6);
  }

  function utc(ts) {
    return ts ? new Date(ts * 1000).toISOString().replace("T", " ").replace(".000Z", " UTC") : "-";
  }

  function rows(tableId, items, build) {
    var body = document.querySelector("#" + tableId + " tbody");
    if (!body) return;
    var fresh = document.createElement("tbody");
    items.forEach(function (item) { fresh.appendChild(build(item)); });
    if (fresh.innerHTML !== body.innerHTML) body.replaceWith(fresh);
  }

  function apply(data) {
    skew = data.chain_time - Date.now() / 1000;
    text("current-round", data.current_round);
    text("phase", data.phase);
    var deadline = document.getElementById("deadline");
    if (deadline) deadline.setAttribute("data-unix", data.deadline);
    wei("pool-total", data.pool_total);
    wei("paid-total", data.paid_total);
    wei("slashed-total", data.slashed_total);
    var status = document.getElementById("chain-status");
    if (status) {
      status.className = data.chain.ok ? "ok" : "down";
      status.textContent = data.chain.ok
        ? "chain reachable · block " + data.chain.latest_block
        : "chain unreachable at " + data.chain.rpc_url + ": showing the indexed data";
    }
    rows("participants", data.participants, function (p) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-address", p.address);
      tr.appendChild(cell("td", "", link("/participants/" + p.address, p.address)));
      tr.appendChild(cell("td", "stake", null, p.stake));
      tr.appendChild(cell("td", "active", p.active ? "yes" : "no"));
      tr.appendChild(cell("td", "peer", short(p.peer_id)));
      return tr;
    });
    rows("rewards", data.rewards, function (r) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-address", r.address);
      tr.appendChild(cell("td", "", link("/participants/" + r.address, r.address)));
      tr.appendChild(cell("td", "earned", null, r.earned));
      tr.appendChild(cell("td", "claimed", null, r.claimed));
      tr.appendChild(cell("td", "slashed", null, r.slashed));
      return tr;
    });
    rows("recent-rounds", data.recent, function (r) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-round", r.round);
      tr.appendChild(cell("td", "", link("/rounds/" + r.round, String(r.round))));
      tr.appendChild(cell("td", "status", r.status));
      tr.appendChild(cell("td", "", r.commits + "/" + r.eligible));
      tr.appendChild(cell("td", "", short(r.model_cid)));
      var metric = cell("td", "metric", percent(r.agreed_bps));
      metric.setAttribute("data-bps", r.agreed_bps === null ? "" : r.agreed_bps);
      tr.appendChild(metric);
      tr.appendChild(cell("td", "", utc(r.opened_at)));
      return tr;
    });
    stopRule(data.stop_rule);
    text("count-finalized", data.counts.finalized);
    text("count-failed", data.counts.failed);
    var chart = document.getElementById("accuracy-chart");
    if (chart && (chart.querySelectorAll("circle.point").length !== data.accuracy.length ||
        chart.querySelectorAll("circle.agreed").length !== data.agreed.length)) {
      document.getElementById("accuracy-box").innerHTML = data.accuracy_svg;
    }
    var economy = document.getElementById("economy-chart");
    if (economy && economy.querySelectorAll("rect.pool").length !== data.economy.length) {
      document.getElementById("economy-box").innerHTML = data.economy_svg;
    }
    tick();
  }

  function percent(bps) {
    return bps === null || bps === undefined ? "-" : (bps / 100).toFixed(2) + "%";
  }

  // the chain's stop rule (same text as the server renders; see overview.html)
  function stopRule(s) {
    var box = document.getElementById("stop-rule");
    if (!box || !s) return;
    text("stop-finalized", s.finalized_rounds === null ? "?" : s.finalized_rounds);
    var best = document.getElementById("stop-best");
    if (best) {
      best.setAttribute("data-bps", s.best_metric_bps === null ? "" : s.best_metric_bps);
      best.textContent = percent(s.best_metric_bps);
    }
    text("stop-without-improvement",
      s.rounds_without_improvement === null ? "?" : s.rounds_without_improvement);
    var state = document.getElementById("stop-state");
    if (state) {
      state.setAttribute("data-finished", s.finished ? "true" : "false");
      state.textContent = s.finished
        ? "finished at round " + s.finished_round + " (" + s.reason + ", agreed metric " +
          percent(s.final_metric_bps) + ")"
        : "running";
    }
    var final = document.getElementById("final-model-cid");
    if (final) final.textContent = s.final_model_cid || "-";
  }

  function poll() {
    fetch("/api/overview", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) apply(data); })
      .catch(function () { text("chain-status", "explorer not answering"); })
      .then(function () { setTimeout(poll, POLL_MS); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var deadline = document.getElementById("deadline");
    if (deadline) skew = Number(deadline.getAttribute("data-now")) - Date.now() / 1000;
    setInterval(tick, 1000);
    if (document.body.getAttribute("data-page") === "overview") setTimeout(poll, POLL_MS);
  });
})();
