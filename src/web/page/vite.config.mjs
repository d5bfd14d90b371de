// Two pages from this folder (`npm run build:web`): the public page (index.html) and the admin
// console (admin.html), sharing api.ts, dom.ts, errors.ts and style.css as chunks. Vite reads this
// file from the build's root, src/web/page; the command line sets the out dir and `--base ./`.
import { fileURLToPath } from "node:url";

const page = (file) => fileURLToPath(new URL(file, import.meta.url));

export default {
  build: {
    rollupOptions: { input: { index: page("./index.html"), admin: page("./admin.html") } },
  },
};
