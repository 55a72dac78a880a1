// Entry point TensorBoard imports into the "Information plane" tab's iframe
// (the iframe page has <base href="plugin/infoplane/">, so this file is
// /data/plugin/infoplane/index.js). It mounts the bundled app in place.
export async function render() {
  const css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = new URL("./static/style.css", import.meta.url).href;
  document.head.appendChild(css);
  const meta = document.createElement("meta");
  meta.name = "viewport";
  meta.content = "width=device-width, initial-scale=1";
  document.head.appendChild(meta);
  document.title = "Information plane";
  const root = document.createElement("div");
  root.id = "infoplane-app";
  document.body.appendChild(root);
  const { mount } = await import("./static/app.js");
  mount(root);
}
