// ESLint: `npm run lint` (no warnings allowed).
import js from "@eslint/js";
import { defineConfig, globalIgnores } from "eslint/config";
import globals from "globals";
import reactHooks from "eslint-plugin-react-hooks";
import tseslint from "typescript-eslint";

export default defineConfig(
  // Built files, and the API types openapi-typescript writes (`npm run api-types`).
  globalIgnores(["dist/", "node_modules/", "e2e/artifacts/", "src/api-types.ts"]),
  {
    files: ["**/*.{js,mjs,ts,tsx}"],
    extends: [js.configs.recommended, tseslint.configs.recommended],
  },
  {
    files: ["src/**/*.{ts,tsx}"],
    extends: [reactHooks.configs.flat.recommended],
    languageOptions: { globals: globals.browser },
    rules: { "react-hooks/exhaustive-deps": "error" },
  },
  // The configuration files and the browser test run in Node; the test's page functions run in the page.
  { files: ["*.config.{js,ts}"], languageOptions: { globals: globals.node } },
  { files: ["e2e/**/*.mjs"], languageOptions: { globals: { ...globals.node, ...globals.browser } } },
);
