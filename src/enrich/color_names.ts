/**
 * The fixed list of colour names a palette colour can be given: the CSS Color Module 4 named colours
 * (the X11 set browsers know), 139 distinct values. Where CSS has two names for one value we keep one
 * (`gray` not `grey`, `cyan` not `aqua`, `magenta` not `fuchsia`) so a colour always gets the same
 * name. The list never grows at run time: names are part of the API's output, and a caller may key on
 * them.
 *
 * Each name carries a `family`, one of the eleven basic colour terms of Berlin & Kay. The families
 * were assigned by hand, by how the colour looks (its OKLCh lightness, chroma and hue), not by its
 * name, with these conventions:
 *  - near-white tints (OKLab L ≥ 0.93, chroma ≤ ~0.045: `aliceblue`, `linen`, `lavender`, `beige`,
 *    `mistyrose`, …) are `white`, because people call such a wall or shirt white;
 *  - neutral and bluish greys with chroma ≤ 0.04 (`slategray`, `darkslategray`) are `gray`;
 *  - cyans and teals (`cyan`, `teal`, `turquoise`, `lightseagreen`, `cadetblue`) are `blue`, as most
 *    English speakers name them; `aquamarine` and `mediumaquamarine` lean green and are `green`;
 *  - olives and yellow-greens are `green`; light tans (`tan`, `wheat`, `burlywood`) and dark
 *    golds (`darkgoldenrod`) are `brown`; pale peaches (`peachpuff`, `bisque`, `moccasin`,
 *    `navajowhite`) and `sandybrown` are `orange`;
 *  - CSS `brown` (#a52a2a, a red-brown) stays `brown` so that name and family never contradict;
 *  - salmon-pinks split by hue: `salmon` and `lightcoral` are `pink`, `darksalmon`, `lightsalmon`,
 *    `coral` and `orangered` are `orange`, `tomato` and `indianred` are `red`.
 * The hex values are CSS's; test/enrich/color_names.test.ts checks them against culori's copy.
 */
import type { Lab65 } from "culori";
import { culori } from "./culori.js";

const { differenceCiede2000, lab65, nearest, parse } = culori;

/** The eleven basic colour terms. */
export const COLOR_FAMILIES = ["black", "white", "gray", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown"] as const;
export type ColorFamily = (typeof COLOR_FAMILIES)[number];

export interface NamedColor {
  name: string;
  hex: string;
  family: ColorFamily;
}

/** name → [hex, family]; grouped by family for review, order carries no meaning. */
const NAMED_COLORS: Record<string, [string, ColorFamily]> = {
  black: ["#000000", "black"],

  dimgray: ["#696969", "gray"],
  gray: ["#808080", "gray"],
  darkgray: ["#a9a9a9", "gray"],
  silver: ["#c0c0c0", "gray"],
  lightgray: ["#d3d3d3", "gray"],
  gainsboro: ["#dcdcdc", "gray"],
  slategray: ["#708090", "gray"],
  lightslategray: ["#778899", "gray"],
  darkslategray: ["#2f4f4f", "gray"],

  white: ["#ffffff", "white"],
  whitesmoke: ["#f5f5f5", "white"],
  snow: ["#fffafa", "white"],
  seashell: ["#fff5ee", "white"],
  linen: ["#faf0e6", "white"],
  antiquewhite: ["#faebd7", "white"],
  blanchedalmond: ["#ffebcd", "white"],
  papayawhip: ["#ffefd5", "white"],
  oldlace: ["#fdf5e6", "white"],
  floralwhite: ["#fffaf0", "white"],
  cornsilk: ["#fff8dc", "white"],
  beige: ["#f5f5dc", "white"],
  ivory: ["#fffff0", "white"],
  lightyellow: ["#ffffe0", "white"],
  honeydew: ["#f0fff0", "white"],
  mintcream: ["#f5fffa", "white"],
  azure: ["#f0ffff", "white"],
  lightcyan: ["#e0ffff", "white"],
  aliceblue: ["#f0f8ff", "white"],
  ghostwhite: ["#f8f8ff", "white"],
  lavender: ["#e6e6fa", "white"],
  lavenderblush: ["#fff0f5", "white"],
  mistyrose: ["#ffe4e1", "white"],

  red: ["#ff0000", "red"],
  darkred: ["#8b0000", "red"],
  maroon: ["#800000", "red"],
  firebrick: ["#b22222", "red"],
  crimson: ["#dc143c", "red"],
  indianred: ["#cd5c5c", "red"],
  tomato: ["#ff6347", "red"],

  orange: ["#ffa500", "orange"],
  darkorange: ["#ff8c00", "orange"],
  orangered: ["#ff4500", "orange"],
  coral: ["#ff7f50", "orange"],
  lightsalmon: ["#ffa07a", "orange"],
  darksalmon: ["#e9967a", "orange"],
  sandybrown: ["#f4a460", "orange"],
  peachpuff: ["#ffdab9", "orange"],
  bisque: ["#ffe4c4", "orange"],
  moccasin: ["#ffe4b5", "orange"],
  navajowhite: ["#ffdead", "orange"],

  yellow: ["#ffff00", "yellow"],
  gold: ["#ffd700", "yellow"],
  goldenrod: ["#daa520", "yellow"],
  khaki: ["#f0e68c", "yellow"],
  darkkhaki: ["#bdb76b", "yellow"],
  palegoldenrod: ["#eee8aa", "yellow"],
  lemonchiffon: ["#fffacd", "yellow"],
  lightgoldenrodyellow: ["#fafad2", "yellow"],

  green: ["#008000", "green"],
  darkgreen: ["#006400", "green"],
  lime: ["#00ff00", "green"],
  limegreen: ["#32cd32", "green"],
  forestgreen: ["#228b22", "green"],
  lightgreen: ["#90ee90", "green"],
  palegreen: ["#98fb98", "green"],
  darkseagreen: ["#8fbc8f", "green"],
  seagreen: ["#2e8b57", "green"],
  mediumseagreen: ["#3cb371", "green"],
  springgreen: ["#00ff7f", "green"],
  mediumspringgreen: ["#00fa9a", "green"],
  olive: ["#808000", "green"],
  olivedrab: ["#6b8e23", "green"],
  darkolivegreen: ["#556b2f", "green"],
  yellowgreen: ["#9acd32", "green"],
  greenyellow: ["#adff2f", "green"],
  chartreuse: ["#7fff00", "green"],
  lawngreen: ["#7cfc00", "green"],
  aquamarine: ["#7fffd4", "green"],
  mediumaquamarine: ["#66cdaa", "green"],

  blue: ["#0000ff", "blue"],
  mediumblue: ["#0000cd", "blue"],
  darkblue: ["#00008b", "blue"],
  navy: ["#000080", "blue"],
  midnightblue: ["#191970", "blue"],
  royalblue: ["#4169e1", "blue"],
  dodgerblue: ["#1e90ff", "blue"],
  deepskyblue: ["#00bfff", "blue"],
  skyblue: ["#87ceeb", "blue"],
  lightskyblue: ["#87cefa", "blue"],
  lightblue: ["#add8e6", "blue"],
  powderblue: ["#b0e0e6", "blue"],
  steelblue: ["#4682b4", "blue"],
  lightsteelblue: ["#b0c4de", "blue"],
  cornflowerblue: ["#6495ed", "blue"],
  cadetblue: ["#5f9ea0", "blue"],
  slateblue: ["#6a5acd", "blue"],
  mediumslateblue: ["#7b68ee", "blue"],
  darkslateblue: ["#483d8b", "blue"],
  cyan: ["#00ffff", "blue"],
  darkcyan: ["#008b8b", "blue"],
  teal: ["#008080", "blue"],
  turquoise: ["#40e0d0", "blue"],
  mediumturquoise: ["#48d1cc", "blue"],
  darkturquoise: ["#00ced1", "blue"],
  paleturquoise: ["#afeeee", "blue"],
  lightseagreen: ["#20b2aa", "blue"],

  purple: ["#800080", "purple"],
  indigo: ["#4b0082", "purple"],
  rebeccapurple: ["#663399", "purple"],
  mediumpurple: ["#9370db", "purple"],
  blueviolet: ["#8a2be2", "purple"],
  darkviolet: ["#9400d3", "purple"],
  darkorchid: ["#9932cc", "purple"],
  mediumorchid: ["#ba55d3", "purple"],
  darkmagenta: ["#8b008b", "purple"],
  magenta: ["#ff00ff", "purple"],
  orchid: ["#da70d6", "purple"],
  violet: ["#ee82ee", "purple"],
  plum: ["#dda0dd", "purple"],
  thistle: ["#d8bfd8", "purple"],

  pink: ["#ffc0cb", "pink"],
  lightpink: ["#ffb6c1", "pink"],
  hotpink: ["#ff69b4", "pink"],
  deeppink: ["#ff1493", "pink"],
  mediumvioletred: ["#c71585", "pink"],
  palevioletred: ["#db7093", "pink"],
  lightcoral: ["#f08080", "pink"],
  salmon: ["#fa8072", "pink"],

  brown: ["#a52a2a", "brown"],
  saddlebrown: ["#8b4513", "brown"],
  sienna: ["#a0522d", "brown"],
  chocolate: ["#d2691e", "brown"],
  peru: ["#cd853f", "brown"],
  darkgoldenrod: ["#b8860b", "brown"],
  rosybrown: ["#bc8f8f", "brown"],
  tan: ["#d2b48c", "brown"],
  burlywood: ["#deb887", "brown"],
  wheat: ["#f5deb3", "brown"],
};

/** The whole list, in table order. */
export const COLOR_NAMES: readonly NamedColor[] = Object.freeze(
  Object.entries(NAMED_COLORS).map(([name, [hex, family]]) => Object.freeze({ name, hex, family })),
);

// CIEDE2000 is defined on CIELAB (D65 here, matching sRGB's white), so the list is converted once.
const namedLab: Array<Lab65 & { named: NamedColor }> = COLOR_NAMES.map((named) => ({ ...lab65(parse(named.hex)!), named }));
const nearestByDeltaE2000 = nearest(namedLab, differenceCiede2000());

/**
 * The list entry perceptually closest to an sRGB colour (channels 0–1), by CIEDE2000.
 * @example nameColor({ r: 0.86, g: 0.12, b: 0.12 }).family // "red"
 */
export function nameColor(rgb: { r: number; g: number; b: number }): NamedColor {
  return nearestByDeltaE2000(lab65({ mode: "rgb", ...rgb }), 1)[0].named;
}
