// The page's language: texts from the gateway's gettext catalogue (GET /api/i18n picks the
// language: the user's setting, this browser's choice, Accept-Language, GRIDWATCH_LANGUAGE).
// t("English source text", {fields}) gives the text in it; elements marked data-i18n in the
// HTML are translated by translatePage(). Loaded before any page renders (top-level await).

let data = { language: "en", timezone: undefined, messages: {}, languages: [] };
try {
  const resp = await fetch("/api/i18n", { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (resp.ok) data = await resp.json();
} catch { /* the gateway is away: English source texts, the page says so itself */ }

export const LANG = data.language;
export const TIMEZONE = data.timezone;
document.documentElement.lang = LANG;

/** Marks a text for the catalogue where it is translated later, with t(). */
export const N_ = (text) => text;

/** `text` in the page's language, with `{name}` fields filled from `values`. */
export function t(text, values) {
  const out = data.messages[text] || text;
  return values ? out.replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m)) : out;
}

/** Translates the elements marked data-i18n (their text is the source) and data-i18n-placeholder. */
export function translatePage(root = document) {
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n || el.textContent.trim()); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  if (document.title) document.title = document.title.split(" · ").map((p) => t(p)).join(" · ");
}

/** A language switch: stores the choice (the user's setting once signed in) and reloads. */
export function languageSwitch({ signedIn = true } = {}) {
  const select = document.createElement("select");
  select.className = "lang-switch";
  select.setAttribute("aria-label", t("Language"));
  for (const { code, name } of data.languages) {
    const o = document.createElement("option");
    o.value = code;
    o.textContent = name;
    o.selected = code === LANG;
    select.append(o);
  }
  select.addEventListener("change", async () => {
    const language = select.value;
    document.cookie = `gw_lang=${language}; path=/; max-age=31536000; samesite=lax`;
    if (signedIn) {
      await fetch("/api/me/language", { method: "PUT", credentials: "same-origin",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ language }) });
    }
    location.reload();
  });
  return select;
}
