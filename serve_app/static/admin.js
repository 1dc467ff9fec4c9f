// The shop's own page (#/admin, #/admin/stats/<deal id>): create a product, create a
// deal, and watch a deal's figures. Shown to role admin only; the API checks it anyway.

import { api } from "./api.js";
import { serverNow } from "./clock.js";
import { h, heading, say } from "./dom.js";
import { poll } from "./poll.js";
import { session } from "./session.js";

const STATS_POLL_MS = 3000;

// "12.34" -> 1234, exactly (no floating point); null when it is not a dollar amount.
export function dollarsToCents(text) {
  const match = /^\s*\$?(\d{1,9})(?:\.(\d{1,2}))?\s*$/.exec(text);
  if (!match) return null;
  return Number(match[1]) * 100 + Number((match[2] ?? "0").padEnd(2, "0"));
}

// <input type="datetime-local"> speaks the browser's zone: "2026-11-26T18:00".
const toLocalInput = (ms) => {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
};
// ... and the API wants a zone: the same instant in UTC with a Z.
const toUtcIso = (local) => new Date(local).toISOString();

function input(id, label, attrs = {}, hint = "") {
  const hintId = hint ? `${id}-hint` : undefined;
  return [
    h("label", { for: id }, label),
    h("input", { id, name: id, "data-testid": id, "aria-describedby": hintId, ...attrs }),
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
  ];
}

// A form whose submit calls send(values) -> message shown on success; API errors show
// their message next to the form.
function adminForm(testid, title, fields, buttonText, send) {
  const result = h("div", {
    class: "result",
    role: "status",
    "aria-live": "polite",
    "data-testid": `${testid}-result`,
  });
  const button = h("button", { type: "submit", "data-testid": `${testid}-submit` }, buttonText);
  const form = h(
    "form",
    { class: "stack", "data-testid": testid },
    h("h2", {}, title),
    fields,
    button,
    result,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    say(result, "Sending…", "busy");
    try {
      say(result, await send(Object.fromEntries(new FormData(form))), "ok");
      result.dataset.outcome = "ok";
    } catch (err) {
      result.dataset.outcome = err.code ?? "error";
      say(result, [h("strong", {}, "Not accepted: "), err.message], "error");
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function statsTable(stats) {
  const cell = (text) => h("td", {}, String(text));
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { "data-testid": "stats-totals" },
      h("caption", {}, `Deal ${stats.deal_id}`),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["stock", "available", "held", "sold", "cancelled", "pool"].map((t) =>
            h("th", { scope: "col" }, t),
          ),
        ),
      ),
      h(
        "tbody",
        {},
        h(
          "tr",
          {},
          [stats.stock, stats.available, stats.held, stats.sold, stats.cancelled, stats.pool].map(
            cell,
          ),
        ),
      ),
    ),
    h(
      "table",
      { "data-testid": "stats-shards" },
      h("caption", {}, "By shard"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["shard", "available", "held", "sold"].map((t) => h("th", { scope: "col" }, t)),
        ),
      ),
      h(
        "tbody",
        {},
        stats.shards.map((s) =>
          h(
            "tr",
            { "data-testid": "stats-shard" },
            [s.shard, s.available, s.held, s.sold].map(cell),
          ),
        ),
      ),
    ),
  );
}

export function adminView(main, statsDealId = "") {
  const section = h(
    "section",
    { "data-testid": "view-admin", "data-state": "ready" },
    heading("Admin", "admin-heading"),
  );
  main.append(section);
  if (session()?.role !== "admin") {
    sessionStorage.setItem("flashsale.next", location.hash);
    section.append(
      h(
        "p",
        { "data-testid": "admin-denied" },
        "This page is for the shop's admins. ",
        h("a", { href: "#/login" }, "Log in as an admin"),
      ),
    );
    return undefined;
  }

  const start = serverNow() + 5 * 60000;
  const productForm = adminForm(
    "new-product-form",
    "New product",
    [
      ...input("new-product-name", "Name", { required: true, maxlength: 200 }),
      h("label", { for: "new-product-description" }, "Description"),
      h("textarea", {
        id: "new-product-description",
        name: "new-product-description",
        rows: 3,
        maxlength: 5000,
        "data-testid": "new-product-description",
      }),
      ...input(
        "new-product-image",
        "Image URL (optional)",
        { type: "text", maxlength: 1000 },
        "http(s)://… or a path on this site",
      ),
    ],
    "Create product",
    async (v) => {
      const { data } = await api.createProduct({
        name: v["new-product-name"],
        description: v["new-product-description"],
        image_url: v["new-product-image"].trim(),
      });
      dealForm.querySelector("#new-deal-product").value = data.product_id;
      return [
        "Created product ",
        h("code", { "data-testid": "created-product-id" }, data.product_id),
        " (filled in below).",
      ];
    },
  );

  const dealForm = adminForm(
    "new-deal-form",
    "New deal",
    [
      ...input("new-deal-product", "Product id", { required: true }),
      ...input(
        "new-deal-price",
        "Price in dollars",
        { required: true, inputmode: "decimal", placeholder: "12.34" },
        "dollars and cents, e.g. 12.34; sent as cents",
      ),
      ...input("new-deal-stock", "Stock (units)", {
        type: "number",
        required: true,
        min: 1,
        step: 1,
        value: 100,
      }),
      ...input("new-deal-limit", "Limit per buyer", {
        type: "number",
        required: true,
        min: 1,
        max: 1000,
        step: 1,
        value: 1,
      }),
      ...input(
        "new-deal-starts",
        "Starts",
        { type: "datetime-local", required: true, value: toLocalInput(start) },
        "your local time; sent in UTC",
      ),
      ...input(
        "new-deal-ends",
        "Ends",
        { type: "datetime-local", required: true, value: toLocalInput(start + 3600000) },
        "your local time; sent in UTC",
      ),
      ...input(
        "new-deal-shards",
        "Shards (optional, 1–64)",
        { type: "number", min: 1, max: 64, step: 1 },
        "empty: the shop's default",
      ),
    ],
    "Create deal",
    async (v) => {
      const price = dollarsToCents(v["new-deal-price"]);
      if (price === null) throw new Error("the price must be dollars and cents, e.g. 12.34");
      if (!v["new-deal-starts"] || !v["new-deal-ends"])
        throw new Error("give both a start and an end");
      const body = {
        product_id: v["new-deal-product"].trim(),
        price_cents: price,
        stock: Number(v["new-deal-stock"]),
        per_user_limit: Number(v["new-deal-limit"]),
        starts_at: toUtcIso(v["new-deal-starts"]),
        ends_at: toUtcIso(v["new-deal-ends"]),
      };
      if (v["new-deal-shards"]) body.shards = Number(v["new-deal-shards"]);
      const { data } = await api.createDeal(body);
      return [
        "Created deal ",
        h("code", { "data-testid": "created-deal-id" }, data.deal_id),
        ": ",
        h("a", { href: `#/deal/${data.deal_id}`, "data-testid": "created-deal-link" }, "its page"),
        ", ",
        h(
          "a",
          { href: `#/admin/stats/${data.deal_id}`, "data-testid": "created-deal-stats-link" },
          "its figures",
        ),
        ".",
      ];
    },
  );

  // Figures of one deal, refreshed while shown.
  const statsOut = h("div", { "data-testid": "stats" });
  const statsNote = h("p", {
    class: "result",
    role: "status",
    "aria-live": "polite",
    "data-testid": "stats-status",
  });
  const statsUpdated = h("p", { class: "hint", "data-testid": "stats-updated" });
  const statsForm = h(
    "form",
    { class: "stack", "data-testid": "stats-form" },
    h("h2", {}, "Deal figures"),
    ...input("stats-deal", "Deal id", { required: true, value: statsDealId }),
    h("button", { type: "submit", "data-testid": "stats-submit" }, "Show figures"),
    statsNote,
    statsUpdated,
    statsOut,
  );
  let statsPoll = null;
  function watch(dealId) {
    statsPoll?.stop();
    say(statsNote, "Loading…", "busy");
    statsPoll = poll(
      async () => {
        try {
          statsOut.replaceChildren(statsTable((await api.stats(dealId)).data));
        } catch (err) {
          if (err.retriable) throw err;
          statsOut.replaceChildren();
          say(statsNote, err.message, "error");
          return false;
        }
        say(statsNote, ""); // quiet when all is well: a live region speaks each change
        statsUpdated.textContent = `Updated ${new Date().toLocaleTimeString()}, every ${STATS_POLL_MS / 1000} s.`;
        return undefined;
      },
      {
        everyMs: STATS_POLL_MS,
        onError: (err, waitMs) =>
          say(statsNote, `${err.message}; trying again in ${Math.ceil(waitMs / 1000)} s.`, "error"),
      },
    );
  }
  statsForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const dealId = statsForm.querySelector("#stats-deal").value.trim();
    if (!/^[A-Za-z0-9-]{1,36}$/.test(dealId)) {
      say(statsNote, "A deal id is 1–36 letters, digits or dashes.", "error");
    } else if (location.hash === `#/admin/stats/${dealId}`) {
      watch(dealId); // the same address: no hashchange to do it
    } else {
      location.hash = `#/admin/stats/${dealId}`; // a link to these figures, for the history
    }
  });
  if (statsDealId) watch(statsDealId);

  section.append(h("div", { class: "columns" }, productForm, dealForm), statsForm);
  return () => statsPoll?.stop();
}
