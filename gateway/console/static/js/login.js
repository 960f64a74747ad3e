import { api } from "./api.js";
import { languageSwitch, t, translatePage } from "./i18n.js";

translatePage();
document.getElementById("lang").append(languageSwitch({ signedIn: false }));

const form = document.getElementById("login");
const error = document.getElementById("error");

/** Only same-site paths are followed after login, never another origin. */
function safeNext(role) {
  const next = new URLSearchParams(location.search).get("next");
  if (next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/login")) return next;
  return role === "grid_worker" ? "/m/" : "/console/";
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  error.textContent = "";
  const data = Object.fromEntries(new FormData(form));
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const resp = await api("/api/auth/login", { method: "POST", body: { username: data.username, password: data.password } });
    location.href = safeNext(resp.user && resp.user.role);
  } catch (err) {
    error.textContent = err.status === 401 ? t("Wrong username or password.") : err.message;
    button.disabled = false;
  }
});
// enabled only now: a form sent before this script ran would put the password in the URL
form.querySelector("button").disabled = false;
