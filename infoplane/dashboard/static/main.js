// Stand-alone page (static/index.html): mount the app into #infoplane-app.
import { mount } from "./app.js";

mount(document.getElementById("infoplane-app"));
