// My orders (#/orders) and one order (#/order/<id>): live status, a pay-by countdown
// on server time, Pay and Cancel.
//
// The API has no list of a buyer's orders, so the list is the ids this browser was
// given (session.js). While an order is reserved it is polled: the shop cancels an
// unpaid order at its deadline, and the page shows "expiring" from the deadline until
// the shop says "cancelled".

import { api, withRetries } from "./api.js";
import { onTick, serverNow } from "./clock.js";
import { badge, duration, h, heading, localTime, money, say, setBadge } from "./dom.js";
import { poll } from "./poll.js";
import { rememberOrder, rememberedOrders, session } from "./session.js";

const RESERVED_POLL_MS = 3000;
const EXPIRING_POLL_MS = 1000; // past the deadline: the cancel is due any moment

const MESSAGES = {
  order_cancelled: "This order was cancelled.",
  order_paid: "This order is already paid.",
  payment_declined: "The payment was declined.",
  unknown_order: "No such order for this account.",
};

function loginFirst(section) {
  sessionStorage.setItem("flashsale.next", location.hash);
  section.dataset.state = "ready";
  section.append(
    h(
      "p",
      { "data-testid": "orders-login" },
      h("a", { href: "#/login" }, "Log in"),
      " to see your orders.",
    ),
  );
}

// One order as a list item, kept up to date until it is paid or cancelled.
// -> {el, stop}.
function orderItem(orderId, username) {
  const status = badge("loading", "order-status");
  const details = h("dl", { class: "facts" });
  const payBy = h("p", { class: "countdown", "data-testid": "order-pay-by" });
  const message = h("p", {
    tabindex: "-1",
    class: "result",
    role: "status",
    "aria-live": "polite",
    "data-testid": "order-message",
  });
  // Named with the order: a list of orders has many "Pay" buttons.
  const pay = h(
    "button",
    {
      type: "button",
      hidden: true,
      "aria-label": `Pay order ${orderId}`,
      "data-testid": "pay-button",
    },
    "Pay",
  );
  const cancel = h(
    "button",
    {
      type: "button",
      class: "secondary",
      hidden: true,
      "aria-label": `Cancel order ${orderId}`,
      "data-testid": "cancel-button",
    },
    "Cancel",
  );
  const el = h(
    "li",
    {
      class: "card order",
      "data-testid": "order",
      "data-order-id": orderId,
      "data-status": "loading",
    },
    h("h2", {}, "Order ", h("code", {}, orderId)),
    h("p", {}, status),
    details,
    payBy,
    h("div", { class: "actions" }, pay, cancel),
    message,
  );

  let order = null;
  let missing = false; // the shop does not know it (for this account): stop asking
  let busy = false;

  function shown(now) {
    if (missing) return "unknown";
    if (!order) return "loading";
    if (order.status === "reserved" && now >= Date.parse(order.pay_by)) return "expiring";
    return order.status;
  }

  function paint(now) {
    const state = shown(now);
    if (el.dataset.status !== state) {
      el.dataset.status = state;
      setBadge(status, state);
    }
    const open = state === "reserved";
    // A button about to vanish under the keyboard's focus hands it to the message.
    if (!open && [pay, cancel].includes(document.activeElement)) message.focus();
    pay.hidden = cancel.hidden = !open;
    pay.disabled = cancel.disabled = busy || !open;
    if (state === "reserved")
      payBy.textContent = `Pay within ${duration(Date.parse(order.pay_by) - now)}`;
    else if (state === "expiring")
      payBy.textContent = "Payment window over: the shop is cancelling this order…";
    else payBy.textContent = "";
  }

  function fill() {
    details.replaceChildren(
      h("dt", {}, "Deal"),
      h(
        "dd",
        {},
        h(
          "a",
          { href: `#/deal/${order.deal_id}`, "data-testid": "order-deal-link" },
          order.deal_id,
        ),
      ),
      h("dt", {}, "Quantity"),
      h("dd", { "data-testid": "order-quantity" }, String(order.quantity)),
      h("dt", {}, "Amount"),
      h("dd", { "data-testid": "order-amount" }, money(order.amount_cents)),
      h("dt", {}, "Ordered"),
      h("dd", {}, h("time", { datetime: order.created_at }, localTime(order.created_at))),
      h("dt", {}, "Pay by"),
      h("dd", {}, h("time", { datetime: order.pay_by }, localTime(order.pay_by))),
    );
  }

  const poller = poll(
    async () => {
      try {
        order = (await api.order(orderId)).data;
      } catch (err) {
        if (err.status !== 404 && err.status !== 401) throw err;
        missing = true;
        paint(serverNow());
        say(message, `${MESSAGES[err.code] ?? ""} ${err.message}`.trim(), "error");
        return false;
      }
      rememberOrder(username, orderId); // also an order opened by its link
      fill();
      paint(serverNow());
      if (order.status !== "reserved") return false;
      return el.dataset.status === "expiring" ? EXPIRING_POLL_MS : RESERVED_POLL_MS;
    },
    {
      onError(err, waitMs) {
        say(
          message,
          `Could not refresh this order (${err.message}); trying again in ${Math.ceil(waitMs / 1000)} s.`,
          "error",
        );
      },
    },
  );

  const untick = onTick(paint);

  async function act(action, verb) {
    busy = true;
    paint(serverNow());
    say(message, `${verb}…`, "busy");
    try {
      const { data } = await withRetries(() => api[action](orderId), {
        onRetry: (err, attempt) =>
          say(
            message,
            `The shop is busy, retrying… (attempt ${attempt + 1}: ${err.message})`,
            "busy",
          ),
      });
      order = { ...order, status: data.status };
      say(
        message,
        data.status === "paid" ? "Paid. Thank you!" : "Cancelled; the units are back on sale.",
        "ok",
      );
    } catch (err) {
      // A 409 tells the order's real state: show it, and let the poll confirm it.
      if (err.code === "order_cancelled") order = { ...order, status: "cancelled" };
      if (err.code === "order_paid") order = { ...order, status: "paid" };
      say(
        message,
        [h("strong", {}, MESSAGES[err.code] ?? "That did not work."), " ", err.message],
        "error",
      );
    } finally {
      busy = false;
      paint(serverNow());
      poller.now();
    }
  }

  pay.addEventListener("click", () => act("pay", "Paying"));
  cancel.addEventListener("click", () => act("cancel", "Cancelling"));

  return {
    el,
    stop() {
      poller.stop();
      untick();
    },
  };
}

function ordersSection(main, title, testid) {
  const section = h(
    "section",
    { "data-testid": testid, "data-state": "loading" },
    heading(title, `${testid}-heading`),
  );
  main.append(section);
  return section;
}

export function ordersView(main) {
  const section = ordersSection(main, "My orders", "view-orders");
  const who = session();
  if (!who) return loginFirst(section);
  const ids = rememberedOrders(who.username);
  section.dataset.state = "ready";
  if (!ids.length) {
    section.append(
      h(
        "p",
        { "data-testid": "orders-empty" },
        "No orders from this browser yet. ",
        h("a", { href: "#/deals" }, "See the deals"),
      ),
    );
    return undefined;
  }
  const items = ids.map((id) => orderItem(id, who.username));
  section.append(
    h(
      "ul",
      { class: "orders", "data-testid": "order-list" },
      items.map((item) => item.el),
    ),
  );
  return () => items.forEach((item) => item.stop());
}

export function orderView(main, orderId) {
  const section = ordersSection(main, "Order", "view-order");
  section.append(h("p", {}, h("a", { href: "#/orders" }, "← All my orders")));
  const who = session();
  if (!who) return loginFirst(section);
  section.dataset.state = "ready";
  const item = orderItem(orderId, who.username);
  section.append(h("ul", { class: "orders" }, item.el));
  return item.stop;
}
