// Small DOM and formatting helpers shared by the views.
// Text only ever goes in as text (append/textContent): product names and messages come
// from the API, and nothing from it may be parsed as HTML.

// h("a", {href: "#/deals", "data-testid": "x"}, "text", child, ...) -> element.
// Keys starting with "on" add listeners; true adds a bare attribute; false/null skip.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

const usd = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

// Money travels as integer cents; only the display divides.
export const money = (cents) => usd.format(cents / 100);

const pad = (n) => String(n).padStart(2, "0");

// 93784000 -> "1d 02:03:04"; rounds up, so "00:00:01" shows until the very moment.
export function duration(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const days = Math.floor(s / 86400);
  const clock = `${pad(Math.floor((s % 86400) / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
  return days ? `${days}d ${clock}` : clock;
}

// An ISO time from the API, in the reader's own zone.
export const localTime = (iso) => new Date(iso).toLocaleString();

// The API says "open"; buyers read "live".
export const STATUS_LABELS = {
  upcoming: "upcoming",
  open: "live",
  sold_out: "sold out",
  ended: "ended",
  reserved: "reserved",
  expiring: "expiring",
  paid: "paid",
  cancelled: "cancelled",
  unknown: "not found",
  loading: "loading…",
};

export function badge(status, testid) {
  return h(
    "span",
    { class: `badge badge-${status}`, "data-testid": testid },
    STATUS_LABELS[status] ?? status,
  );
}

export function setBadge(el, status) {
  el.className = `badge badge-${status}`;
  el.textContent = STATUS_LABELS[status] ?? status;
}

// Puts a message in a live region; kind ("ok", "error", "busy") only styles it.
export function say(el, text, kind = "") {
  el.dataset.kind = kind;
  el.replaceChildren(...[text].flat());
}

// A product picture, or a neutral placeholder (drawn by app.css) when there is none or
// it fails to load. alt is empty: the product's name is always written beside it.
export function thumb(product) {
  const box = h("div", { class: "thumb placeholder" });
  if (product.image_url) {
    const img = h("img", { src: product.image_url, alt: "", loading: "lazy", decoding: "async" });
    img.addEventListener("load", () => box.classList.remove("placeholder"));
    img.addEventListener("error", () => img.remove());
    box.append(img);
  }
  return box;
}

// A view's heading: focusable so that the router can move focus to it on navigation.
export const heading = (text, testid) => h("h1", { tabindex: "-1", "data-testid": testid }, text);
