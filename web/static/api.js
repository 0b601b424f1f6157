// Shared by both pages: one way to call the API, and the words for its answers.
"use strict";

window.seckill = (function () {
  // call sends one request and resolves to {status, message, data, date} (the contract's envelope and the Date
  // header); a network failure is status 0. It never rejects. Answers are not cached unless cache says so.
  async function call(method, path, { body, token, cache = "no-store" } = {}) {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let resp;
    try {
      resp = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache,
        credentials: "omit",
      });
    } catch (e) {
      return { status: 0, message: String(e), data: null, date: null };
    }
    let env = null;
    try {
      env = await resp.json();
    } catch (e) {
      env = null;
    }
    return {
      status: resp.status,
      message: env && typeof env.message === "string" ? env.message : resp.statusText,
      data: env ? env.data : null,
      date: resp.headers.get("Date"),
    };
  }

  // describe gives the buyer's words for an answer other than 200. op is "kill", "pay", "cancel" or "read".
  function describe(op, status, message) {
    const m = (message || "").toLowerCase();
    switch (true) {
      case status === 0:
        return "网络错误，请检查连接 · Network error: check your connection";
      case status === 400:
        return "请求无效 · Bad request: " + message;
      case status === 401:
        return "登录无效或已过期，请重新登录 · Sign-in rejected or expired: sign in again";
      case status === 403 && m.includes("not started"):
        return "活动未开始 · The sale has not started yet";
      case status === 403 && m.includes("ended"):
        return "活动已结束 · The sale has ended";
      case status === 403:
        return "无权操作 · Not allowed for this buyer";
      case status === 404 && op === "kill":
        return "商品不存在 · No such sale";
      case status === 404:
        return "订单不存在 · No such order";
      case status === 409 && op === "kill":
        return "您已秒杀过此商品 · You already hold an order for this sale";
      case status === 409 && op === "pay":
        return "订单无法支付（已支付或已取消） · This order can no longer be paid";
      case status === 409 && op === "cancel":
        return "订单无法取消（已支付或已取消） · This order can no longer be cancelled";
      case status === 410:
        return "已售罄（库存不足） · Sold out";
      case status === 429:
        return "请求过于频繁，请稍后再试 · Too many requests: wait a moment and try again";
      case status === 503 && m.includes("unknown"):
        return "结果未知，正在查询… · Outcome unknown: checking your result…";
      case status === 503 && op === "kill":
        return "服务繁忙，未抢到，请重试 · Service busy: nothing was reserved, try again";
      case status === 503:
        return "服务繁忙，未做任何更改，请重试 · Service busy: nothing changed, try again";
      default:
        return "服务器错误（" + status + "），请重试 · Server error (" + status + "): try again";
    }
  }

  const priceFormat = new Intl.NumberFormat("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  function price(p) {
    return "¥" + priceFormat.format(p);
  }

  // duration formats milliseconds as [d天 ]hh:mm:ss.
  function duration(ms) {
    let s = Math.max(0, Math.ceil(ms / 1000));
    const d = Math.floor(s / 86400);
    s -= d * 86400;
    const hh = String(Math.floor(s / 3600)).padStart(2, "0");
    const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
    const ss = String(s % 60).padStart(2, "0");
    return (d > 0 ? d + "天 " : "") + hh + ":" + mm + ":" + ss;
  }

  function time(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    const p = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " + p(d.getHours()) + ":" +
      p(d.getMinutes()) + ":" + p(d.getSeconds());
  }

  return { call, describe, price, duration, time };
})();
