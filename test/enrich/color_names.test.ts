import assert from "node:assert/strict";
import { test } from "node:test";
import { colorsNamed } from "culori";

import { COLOR_FAMILIES, COLOR_NAMES, nameColor } from "../../src/enrich/color_names.js";

const DROPPED_ALIASES = ["aqua", "fuchsia", "grey", "darkgrey", "darkslategrey", "dimgrey", "lightgrey", "lightslategrey", "slategrey"];

test("the list is CSS's named colours, one name per value, with CSS's hex", () => {
  const css = Object.entries(colorsNamed).filter(([name]) => !DROPPED_ALIASES.includes(name));
  assert.equal(COLOR_NAMES.length, css.length);
  for (const [name, value] of css) {
    const entry = COLOR_NAMES.find((c) => c.name === name);
    assert.ok(entry, `${name} is missing`);
    assert.equal(entry.hex, `#${value.toString(16).padStart(6, "0")}`, name);
  }
  assert.equal(new Set(COLOR_NAMES.map((c) => c.hex)).size, COLOR_NAMES.length, "no value has two names");
});

test("every family is used, and a name that is a basic term belongs to that family (except CSS's dark-red 'brown', which keeps its name's)", () => {
  for (const family of COLOR_FAMILIES) assert.ok(COLOR_NAMES.some((c) => c.family === family), family);
  for (const c of COLOR_NAMES) if ((COLOR_FAMILIES as readonly string[]).includes(c.name)) assert.equal(c.family, c.name);
  assert.equal(COLOR_NAMES.find((c) => c.name === "gray")?.family, "gray");
});

test("nameColor: an exact list colour names itself; nearby colours go to the perceptually nearest name", () => {
  for (const c of COLOR_NAMES) {
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(c.hex.slice(i, i + 2), 16) / 255);
    assert.equal(nameColor({ r, g, b }).name, c.name);
  }
  assert.equal(nameColor({ r: 0.99, g: 0.99, b: 0.99 }).family, "white");
  assert.equal(nameColor({ r: 0.05, g: 0.05, b: 0.06 }).name, "black");
  assert.equal(nameColor({ r: 0.47, g: 0.27, b: 0.12 }).family, "brown");
  assert.equal(nameColor({ r: 0.94, g: 0.88, b: 0.16 }).family, "yellow");
});
