// ESLint for the dispatcher page's sources (npm run lint): the recommended rules, browser globals.
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["web/**/*.js", "web/**/*.mjs"],
    languageOptions: { ecmaVersion: 2023, sourceType: "module", globals: { ...globals.browser } },
  },
  { files: ["web/build.mjs"], languageOptions: { globals: { ...globals.node } } },
];
