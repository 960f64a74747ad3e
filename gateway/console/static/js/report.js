// The grid worker's patrol report on the phone: what (a category), a few words, photos taken
// with the phone's camera, and where: a tap on the grid map, else the phone's position when it
// gives one, else the first photo's position, else the worker's own grid. Route #/report of the
// phone view.
import { api, get, me } from "./api.js";
import { t } from "./i18n.js";
import { gridMap } from "./mapdraw.js";
import { h, icon, svg, toast } from "./ui.js";

/** A map of the worker's area that sets the place where it is tapped; hidden until asked for. */
function pickOnMap(onPick) {
  const holder = h("div.pick-map", { id: "pick-map", hidden: true });
  let marker = null;
  const open = async () => {
    if (holder.hidden === false) { holder.hidden = true; return; }
    holder.hidden = false;
    if (holder.firstChild) return;
    const [geo, user] = await Promise.all([get("/api/grids.geojson"), me()]);
    const map = gridMap(geo, { focus: user.grid_id, onPick: (lon, lat, x, y) => {
      if (!marker) {  // sized to the zoomed view, so it reads as a pin at any zoom
        marker = svg("circle", { r: (map.viewBox.baseVal.width / 40).toFixed(2), class: "pick-marker" });
        map.firstChild.append(marker);
      }
      marker.setAttribute("cx", x.toFixed(1)); marker.setAttribute("cy", y.toFixed(1));
      onPick(lat, lon);
    } });
    holder.append(h("p.muted", {}, t("Tap where the problem is.")), map);
  };
  return { holder, open };
}

export async function reportForm() {
  const cats = await get("/api/report-categories").then((d) => d.items).catch(() => []);
  const category = h("select", { name: "category", required: true, "aria-label": t("What is it?") },
    h("option", { value: "" }, t("Choose what it is")), cats.map((c) => h("option", { value: c.code }, c.name)));
  const description = h("textarea", { name: "description", required: true, placeholder: t("What did you find, and where exactly?") });
  const photos = h("input", { type: "file", accept: "image/*", capture: "environment", multiple: true, name: "photo",
    onchange: () => { preview.replaceChildren(...[...photos.files].map((f) => h("img", { src: URL.createObjectURL(f), alt: t("Selected photo") }))); } });
  const preview = h("div.photos");
  const spot = h("input", { type: "checkbox", name: "on_the_spot" });
  const where = h("div.muted", { id: "where" }, t("Finding your position…"));
  let position = null, tapped = false;
  const picker = pickOnMap((lat, lon) => {
    tapped = true;
    position = { latitude: lat, longitude: lon };
    where.textContent = t("On the map: {lat}, {lon}", { lat: lat.toFixed(5), lon: lon.toFixed(5) });
  });
  if (navigator.geolocation) {
    navigator.geolocation.getCurrentPosition(
      (p) => { if (tapped) return; position = p.coords; where.textContent = t("Here: {lat}, {lon}", { lat: p.coords.latitude.toFixed(5), lon: p.coords.longitude.toFixed(5) }); },
      () => { where.textContent = t("No position from the phone: the photo's, else your grid."); },
      { enableHighAccuracy: true, timeout: 8000, maximumAge: 60000 });
  } else {
    where.textContent = t("No position from the phone: the photo's, else your grid.");
  }
  const form = h("form.card.stack", { id: "report-form", onsubmit: async (e) => {
    e.preventDefault();
    if (!category.value) { toast(t("Please choose what it is."), "error"); category.focus(); return; }
    if (!description.value.trim()) { toast(t("Please say what you found."), "error"); description.focus(); return; }
    const data = new FormData();
    data.set("category", category.value);
    data.set("description", description.value.trim());
    if (spot.checked) data.set("on_the_spot", "true");
    if (position) { data.set("lat", String(position.latitude)); data.set("lon", String(position.longitude)); }
    for (const f of photos.files) data.append("photo", f);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const inc = await api("/api/reports", { method: "POST", form: data });
      toast(t("Reported as #{id}.", { id: inc.id }));
      location.hash = `#/i/${inc.id}`;
    } catch (err) {
      toast(err.message, "error");
      button.disabled = false;
    }
  } },
  h("h2", {}, t("Report a problem")),
  h("label.field", {}, t("What is it?"), category),
  h("label.field", {}, t("Description"), description),
  h("label.photo-pick", {}, h("span.row", {}, icon("camera"), t("Take photos")), photos), preview,
  where,
  h("button", { type: "button", id: "pick-on-map", onclick: picker.open }, icon("pin"), t("Mark it on the map")),
  picker.holder,
  h("label.check", {}, spot, t("Handled on the spot")),
  h("button.primary", { type: "submit" }, t("Send the report")));
  return form;
}
