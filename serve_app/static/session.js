// Who is logged in, and the orders this browser made for them. Both live in
// localStorage, so they survive a reload and are shared by the shop's tabs.
//
// The token is a JWT: its payload (base64url JSON) names the user (sub) and role. The
// page only reads it to decide what to show; the server checks the signature on every
// call, so a forged role gets the page nothing but 403s.

import { serverNow } from "./clock.js";

const SESSION = "flashsale.session";
const CHANGED = "flashsale:session";
const MAX_ORDERS = 50; // each is one request when My orders opens

export function decodeJwt(token) {
  const part = token.split(".")[1] ?? "";
  const base64 = part
    .replace(/-/g, "+")
    .replace(/_/g, "/")
    .padEnd(Math.ceil(part.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

// {token, username, role, userId} or null (none, unreadable or expired).
export function session() {
  const raw = localStorage.getItem(SESSION);
  if (!raw) return null;
  try {
    const { token, username } = JSON.parse(raw);
    const claims = decodeJwt(token);
    if (typeof claims.exp === "number" && claims.exp * 1000 <= serverNow()) {
      localStorage.removeItem(SESSION);
      return null;
    }
    return { token, username, role: claims.role, userId: claims.sub };
  } catch {
    localStorage.removeItem(SESSION);
    return null;
  }
}

export function saveSession(token, username) {
  localStorage.setItem(SESSION, JSON.stringify({ token, username }));
  window.dispatchEvent(new CustomEvent(CHANGED, { detail: { note: `Logged in as ${username}.` } }));
}

export function dropSession(note) {
  localStorage.removeItem(SESSION);
  window.dispatchEvent(new CustomEvent(CHANGED, { detail: { note } }));
}

// fn(note) on log in / log out, in this tab or another one.
export function onSessionChange(fn) {
  window.addEventListener(CHANGED, (event) => fn(event.detail?.note ?? ""));
  window.addEventListener("storage", (event) => {
    if (event.key === SESSION || event.key === null) fn("");
  });
}

// The API lists no orders, so the page remembers the ids it was given, per user.
const ordersKey = (username) => `flashsale.orders.${username}`;

export function rememberedOrders(username) {
  try {
    const ids = JSON.parse(localStorage.getItem(ordersKey(username)) ?? "[]");
    return Array.isArray(ids) ? ids.filter((id) => typeof id === "string") : [];
  } catch {
    return [];
  }
}

export function rememberOrder(username, orderId) {
  const ids = [orderId, ...rememberedOrders(username).filter((id) => id !== orderId)];
  localStorage.setItem(ordersKey(username), JSON.stringify(ids.slice(0, MAX_ORDERS)));
}
