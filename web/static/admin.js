// The operator's page: lists a product and watches every sale. Every data call carries the admin token the
// operator typed, kept in sessionStorage (this tab only).
"use strict";

(function () {
  const { call, price, time } = window.seckill;
  const $ = (sel, root = document) => root.querySelector(sel);
  const TOKEN_KEY = "seckill.adminToken";
  const REFRESH_MS = 2000;

  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let timer = null;

  function adminError(status, message) {
    if (status === 401) return "管理令牌无效 · Admin token rejected (401): check SECKILL_ADMIN_TOKEN";
    if (status === 0) return "网络错误 · Network error: " + message;
    return "错误 · Error " + status + ": " + message;
  }

  function showToken() {
    $("#token-form").hidden = !!token;
    $("#token-set").hidden = !token;
  }

  $("#token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = $("#admin-token").value.trim();
    if (!v) {
      $("#token-msg").textContent = "请输入管理令牌 · Type the admin token";
      $("#token-msg").className = "msg error";
      return;
    }
    token = v;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("#admin-token").value = "";
    $("#token-msg").textContent = "";
    showToken();
    refresh();
  });

  $("#token-clear").addEventListener("click", () => {
    token = "";
    sessionStorage.removeItem(TOKEN_KEY);
    showToken();
    $("#board-body").replaceChildren();
    $("#admin-token").focus();
  });

  // toRFC3339 turns a datetime-local value (local time) into RFC 3339 in UTC; "" stays "".
  function toRFC3339(v) {
    if (!v) return "";
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) return null;
    return d.toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  $("#list-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = $("#list-msg");
    if (!token) {
      msg.textContent = "请先输入管理令牌 · Type the admin token first";
      msg.className = "msg error";
      $("#admin-token").focus();
      return;
    }
    const body = {
      id: Number($("#l-id").value),
      name: $("#l-name").value,
      price: Number($("#l-price").value),
      stock: Number($("#l-stock").value),
    };
    const start = toRFC3339($("#l-start").value);
    const end = toRFC3339($("#l-end").value);
    if (start === null || end === null) {
      msg.textContent = "时间无效 · Invalid time";
      msg.className = "msg error";
      return;
    }
    if (start) body.startTime = start;
    if (end) body.endTime = end;
    const r = await call("POST", "/admin/products", { token, body });
    if (r.status === 201) {
      msg.textContent = "已上架 · Listed: product " + r.data.id + " (" + r.data.name + "), stock " + r.data.stock;
      msg.className = "msg ok";
      refresh();
    } else {
      msg.textContent = r.status === 409 ? "商品 ID 已存在 · " + r.message : adminError(r.status, r.message);
      msg.className = "msg error";
    }
    msg.dataset.code = String(r.status);
  });

  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function row(p) {
    const tr = document.createElement("tr");
    tr.id = "board-" + p.id;
    const a = p.audit;
    const win = (p.startTime ? time(p.startTime) : "现在 now") + "\n→ " + (p.endTime ? time(p.endTime) : "∞");
    tr.append(
      cell(String(p.id), "num"),
      cell(p.name),
      cell(price(p.price), "num"),
      cell(win, "num window"),
      cell(a ? String(a.redisStock) : "—", "fig redis"),
      cell(a ? String(a.mysqlStock) : "—", "fig mysql"),
      cell(String(p.orders.awaitingPayment), "fig awaiting"),
      cell(String(p.orders.paid), "fig paid"),
      cell(String(p.orders.cancelled), "fig cancelled"),
      cell(String(p.outbox), "fig outbox"),
      cell(a ? String(a.pendingEvents) : "—", "fig pending"),
      cell(String(p.dlq), "fig dlq"),
    );
    let verdict = "不在 Redis · not in Redis";
    let cls = "verdict bad";
    if (a && a.consistent) [verdict, cls] = ["✓ 一致 · consistent", "verdict ok"];
    else if (a) [verdict, cls] = ["✗ 不一致 · inconsistent", "verdict bad"];
    tr.append(cell(verdict, cls));
    return tr;
  }

  async function refresh() {
    clearTimeout(timer);
    if (!token) return;
    const r = await call("GET", "/admin/products", { token });
    const msg = $("#board-msg");
    if (r.status === 200) {
      msg.textContent = "";
      msg.className = "msg";
      $("#dlq-total").textContent = String(r.data.dlq);
      $("#board-body").replaceChildren(...r.data.sales.map(row));
      $("#updated").textContent = time(new Date().toISOString());
    } else {
      msg.textContent = adminError(r.status, r.message);
      msg.className = "msg error";
      msg.dataset.code = String(r.status);
    }
    if (token) timer = setTimeout(refresh, REFRESH_MS);
  }

  showToken();
  refresh();
})();
