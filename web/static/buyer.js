// The buyer's page: live sales with countdowns, the buy button, the order with pay and cancel.
//
// Every buyer call sends both the signed-in buyer's token (Authorization: Bearer) and their user id (the body of
// kill, the userId query parameter of the others), so the page works whether the server takes the buyer from the
// token (SECKILL_BUYER_AUTH=jwt) or from the user id (trusted).
"use strict";

(function () {
  const { call, describe, price, duration } = window.seckill;
  const $ = (sel, root = document) => root.querySelector(sel);
  const SESSION_KEY = "seckill.buyer";
  const POLL_SALES_MS = 1000;
  const POLL_RESULT_MS = 500;
  const RESULT_PATIENCE_MS = 60000;

  const STATUS_TEXT = {
    PENDING: "处理中 · Being recorded",
    CREATED: "待支付 · Awaiting payment",
    PAID: "已支付 · Paid",
    CANCELLED: "已取消 · Cancelled",
  };

  let session = load();
  let clockOffset = 0; // server clock minus ours, when they differ by more than the Date header's resolution
  const sales = new Map(); // product id -> {p, el, busy, order: {orderNo, status} | null}

  function load() {
    try {
      const s = JSON.parse(sessionStorage.getItem(SESSION_KEY));
      if (s && typeof s.token === "string" && Number.isSafeInteger(s.userId) && s.userId > 0) return s;
    } catch (e) {
      // a damaged entry is the same as none
    }
    return null;
  }

  function now() {
    return Date.now() + clockOffset;
  }

  // tokenBuyer reads the buyer (claim sub) and expiry of a JWT without verifying it: the server verifies.
  function tokenBuyer(token) {
    const parts = token.split(".");
    if (parts.length !== 3) return { error: "令牌格式无效，请粘贴完整的 JWT · Not a valid token: paste the whole JWT" };
    let claims;
    try {
      const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
      claims = JSON.parse(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)));
    } catch (e) {
      return { error: "令牌格式无效，请粘贴完整的 JWT · Not a valid token: paste the whole JWT" };
    }
    const sub = claims && typeof claims.sub === "string" && /^[1-9][0-9]{0,15}$/.test(claims.sub) ? Number(claims.sub) : 0;
    if (!Number.isSafeInteger(sub) || sub < 1) return { error: "令牌中没有买家 ID（sub） · The token names no buyer (sub)" };
    if (typeof claims.exp !== "number") return { error: "令牌没有有效期（exp） · The token has no expiry (exp)" };
    if (claims.exp * 1000 <= now()) return { error: "令牌已过期，请重新获取 · The token has expired: get a new one" };
    return { userId: sub };
  }

  function signIn(token, userId) {
    session = { token, userId };
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
    for (const s of sales.values()) {
      s.order = null;
      say(s, "");
    }
    showAccount();
    for (const s of sales.values()) readOrder(s);
  }

  function signOut() {
    session = null;
    sessionStorage.removeItem(SESSION_KEY);
    for (const s of sales.values()) {
      s.order = null;
      say(s, "");
      render(s);
    }
    showAccount();
  }

  function showAccount() {
    $("#signed-out").hidden = !!session;
    $("#signed-in").hidden = !session;
    $("#who").textContent = session ? String(session.userId) : "";
    $("#account-msg").textContent = "";
  }

  function accountError(text) {
    const m = $("#account-msg");
    m.textContent = text;
    m.className = "msg error";
  }

  $("#token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = $("#token").value.trim();
    if (!token) return accountError("请粘贴买家令牌 · Paste your buyer token");
    const b = tokenBuyer(token);
    if (b.error) return accountError(b.error);
    $("#token").value = "";
    signIn(token, b.userId);
  });

  const devForm = $("#dev-form");
  if (devForm) {
    devForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const v = $("#dev-user").value.trim();
      if (!/^[1-9][0-9]{0,15}$/.test(v)) return accountError("用户 ID 须为正整数 · The user id must be a positive integer");
      const r = await call("POST", "/dev/token", { body: { userId: Number(v) } });
      if (r.status === 404) return accountError("开发登录未开启 · Development sign-in is off on this server");
      if (r.status !== 200) return accountError(describe("read", r.status, r.message));
      signIn(r.data.token, r.data.userId);
    });
  }

  $("#sign-out").addEventListener("click", signOut);

  // --- sales -------------------------------------------------------------------------------------------------

  async function refreshSales() {
    const sent = Date.now();
    // The list is public and cacheable for a second (Cache-Control: max-age=1).
    const r = await call("GET", "/seckill/products", { cache: "default" });
    const msg = $("#sales-msg");
    if (r.status !== 200) {
      msg.textContent = "无法获取活动列表 · Cannot load the sales: " + describe("read", r.status, r.message);
      msg.className = "msg error";
    } else {
      msg.textContent = "";
      msg.className = "msg";
      adjustClock(r.date, sent);
      update(r.data || []);
    }
    setTimeout(refreshSales, POLL_SALES_MS);
  }

  function adjustClock(date, sent) {
    const server = Date.parse(date || "");
    if (!Number.isFinite(server)) return;
    // The Date header has one-second resolution: trust our clock unless the two differ by more than that.
    const skew = server + 500 - (sent + Date.now()) / 2;
    clockOffset = Math.abs(skew) > 2000 ? skew : 0;
  }

  function update(list) {
    const seen = new Set();
    const ul = $("#sales");
    for (const p of list) {
      seen.add(p.id);
      let s = sales.get(p.id);
      if (!s) {
        s = { p, el: newCard(p), busy: false, order: null };
        sales.set(p.id, s);
        ul.appendChild(s.el);
        if (session) readOrder(s);
      }
      s.p = p;
      render(s);
    }
    for (const [id, s] of sales) {
      if (!seen.has(id) && !s.order) {
        s.el.remove();
        sales.delete(id);
      }
    }
    $("#no-sales").hidden = sales.size > 0;
  }

  function newCard(p) {
    const el = $("#sale-template").content.firstElementChild.cloneNode(true);
    el.id = "sale-" + p.id;
    el.dataset.productId = String(p.id);
    $(".name", el).textContent = p.name;
    $(".price", el).textContent = price(p.price);
    const s = () => sales.get(p.id);
    $(".buy", el).addEventListener("click", () => buy(s()));
    $(".pay", el).addEventListener("click", () => settle(s(), "pay"));
    $(".cancel", el).addEventListener("click", () => settle(s(), "cancel"));
    return el;
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  // render brings one card up to date; it runs on every clock tick, so it only writes what changed.
  function render(s) {
    const { p, el } = s;
    const t = now();
    const start = p.startTime ? Date.parse(p.startTime) : null;
    const end = p.endTime ? Date.parse(p.endTime) : null;
    let phase = "live";
    if (start !== null && t < start) phase = "upcoming";
    else if (end !== null && t >= end) phase = "ended";
    el.dataset.phase = phase;
    setText($(".stock", el), String(p.stock));
    const clockLabel = $(".clock-label", el);
    const clock = $(".clock", el);
    if (phase === "upcoming") {
      setText(clockLabel, "距开始 · Starts in");
      setText(clock, duration(start - t));
    } else if (phase === "live" && end !== null) {
      setText(clockLabel, "距结束 · Ends in");
      setText(clock, duration(end - t));
    } else if (phase === "live") {
      setText(clockLabel, "进行中 · Live");
      setText(clock, "—");
    } else {
      setText(clockLabel, "已结束 · Ended");
      setText(clock, "00:00:00");
    }
    const holds = s.order && s.order.status !== "CANCELLED";
    let label = "立即抢购 · Buy now";
    let state = "ready";
    if (s.busy) [label, state] = ["抢购中… · Buying…", "busy"];
    else if (holds) [label, state] = ["已抢到 · Got it", "held"];
    else if (phase === "upcoming") [label, state] = ["即将开始 · Starts soon", "upcoming"];
    else if (phase === "ended") [label, state] = ["已结束 · Ended", "ended"];
    else if (p.stock <= 0) [label, state] = ["已售罄 · Sold out", "sold-out"];
    const buy = $(".buy", el);
    setText(buy, label);
    buy.disabled = state !== "ready";
    buy.dataset.state = state;
    el.classList.toggle("sold-out", state === "sold-out");
    const box = $(".order", el);
    box.hidden = !s.order;
    if (s.order) {
      setText($(".order-no", el), s.order.orderNo || "—");
      setText($(".order-status", el), STATUS_TEXT[s.order.status] || s.order.status);
      $(".order-status", el).dataset.status = s.order.status;
      const open = s.order.status === "CREATED" || s.order.status === "PENDING";
      $(".pay", el).hidden = !open;
      $(".cancel", el).hidden = !open;
    }
  }

  function say(s, text, kind = "info", code = "") {
    const m = $(".msg", s.el);
    m.textContent = text;
    m.className = "msg " + kind;
    m.dataset.code = String(code);
  }

  function needSignIn(s) {
    say(s, "请先登录 · Sign in first", "error", "signin");
    const input = $("#dev-user") || $("#token");
    input.focus();
  }

  // --- buying ------------------------------------------------------------------------------------------------

  async function buy(s) {
    if (!session) return needSignIn(s);
    if (s.busy) return;
    s.busy = true;
    render(s);
    const r = await call("POST", "/seckill/kill", {
      token: session.token,
      body: { userId: session.userId, productId: s.p.id, quantity: 1 },
    });
    s.busy = false;
    if (r.status === 200) {
      s.p.stock = r.data.remainingStock;
      s.order = { orderNo: r.data.orderNo, status: "PENDING" };
      say(s, "秒杀成功，请等待支付 · Reserved! Recording your order…", "ok", 200);
      render(s);
      await followResult(s, false);
      return;
    }
    say(s, describe("kill", r.status, r.message), r.status === 503 ? "warn" : "error", r.status);
    if (r.status === 410) s.p.stock = 0;
    render(s);
    if (r.status === 409) await readOrder(s);
    if (r.status === 503 && r.message.toLowerCase().includes("unknown")) await followResult(s, true);
  }

  // readOrder shows the buyer's order for a sale, if any (after sign-in or a 409).
  async function readOrder(s) {
    if (!session) return;
    const r = await resultOf(s);
    if (r.status !== 200 || !r.data || r.data.status === "NONE") return;
    s.order = { orderNo: r.data.orderNo, status: r.data.status };
    render(s);
    if (r.data.status === "PENDING") await followResult(s, false);
  }

  function resultOf(s) {
    const q = "?userId=" + encodeURIComponent(session.userId) + "&productId=" + encodeURIComponent(s.p.id);
    return call("GET", "/seckill/result" + q, { token: session.token });
  }

  // followResult polls GET /seckill/result until the order is recorded (no longer PENDING). After an unknown
  // outcome, NONE means nothing was reserved.
  async function followResult(s, afterUnknown) {
    const deadline = Date.now() + RESULT_PATIENCE_MS;
    while (session && Date.now() < deadline) {
      const r = await resultOf(s);
      if (r.status === 200 && r.data) {
        const st = r.data.status;
        if (st === "NONE" && afterUnknown) {
          say(s, "未抢到，未做任何预订 · Nothing was reserved: try again", "error", 503);
          return;
        }
        if (st !== "NONE" && st !== "PENDING") {
          s.order = { orderNo: r.data.orderNo, status: st };
          if (st === "CREATED") say(s, "订单已生成，请支付 · Order recorded: pay to complete it", "ok", 200);
          render(s);
          return;
        }
        if (st === "PENDING") {
          s.order = { orderNo: r.data.orderNo, status: st };
          render(s);
        }
      } else if (r.status === 401 || r.status === 403 || r.status === 404) {
        say(s, describe("read", r.status, r.message), "error", r.status);
        return;
      }
      await new Promise((res) => setTimeout(res, POLL_RESULT_MS));
    }
  }

  async function settle(s, op) {
    if (!session) return needSignIn(s);
    if (!s.order || s.busy) return;
    s.busy = true;
    render(s);
    const path = "/seckill/orders/" + encodeURIComponent(s.order.orderNo) + "/" + op +
      "?userId=" + encodeURIComponent(session.userId);
    const r = await call("POST", path, { token: session.token });
    s.busy = false;
    if (r.status === 200) {
      s.order.status = op === "pay" ? "PAID" : "CANCELLED";
      if (op === "pay") say(s, "支付成功 · Paid: the order is yours", "ok", 200);
      else say(s, "订单已取消，库存已退回 · Cancelled: the unit is back on sale", "ok", 200);
    } else {
      say(s, describe(op, r.status, r.message), "error", r.status);
      if (r.status === 409) await readOrder(s);
    }
    render(s);
  }

  // --- start -------------------------------------------------------------------------------------------------

  showAccount();
  refreshSales();
  setInterval(() => {
    for (const s of sales.values()) render(s);
  }, 250);
})();
