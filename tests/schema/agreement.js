#!/usr/bin/env node
// ajv agreement: an independent JSON Schema validator (ajv, 2020-12) and
// `amlspec validate` must agree on every schema-level case.
//
// Run by agreement.sh (which installs ajv and js-yaml from package-lock.json).
// Environment: AMLSPEC (the binary), AMLSPEC_SOURCE_DIR (the source tree).
// Options: --verbose (print every case), --corpus-only (skip tests/cases).
//
// Two corpora:
//
// 1. tests/schema/corpus/{valid,invalid}/*.yaml: schema-level cases written for
//    this test. A file named *.amlspec.yaml is a workspace file (checked
//    against schemas/workspace.schema.json, validated by amlspec from a temp
//    copy named amlspec.yaml); any other file is a run spec (checked against
//    schemas/run.schema.json, validated by amlspec with --workspace at the
//    corpus folder, whose amlspec.yaml declares the targets gpu-vm, hpc and
//    cloud and whose valid/ and invalid/ folders hold train.py and
//    src/train.py). For each file, ajv's verdict, amlspec's verdict and the
//    folder it is in must all be the same, and every error amlspec reports
//    must be schema-level (see below): a case that fails for another reason
//    does not test the schema and is reported as a corpus mistake.
//
// 2. tests/cases/*/files/**: the CLI cases' spec files, when that folder exists
//    (amlspec.yaml as workspace files; run.yaml, run.yml, *.run.yaml,
//    *.run.yml as run specs; other YAML files are not spec formats and are not
//    compared). Each case's files/ is copied to a temp folder, as run_case.sh
//    does, and each spec is validated from there (setup.sh is not run). Those
//    files were not written for this test, so amlspec's schema verdict is
//    taken from its diagnostics for that file: the file is schema-invalid when
//    amlspec reports a schema-level error for it, schema-valid when it reports
//    none or only semantic errors, and the file is not compared (counted as
//    skipped) when amlspec reports any other error (YAML-level problems such
//    as syntax errors, duplicate keys, anchors or tags, and anything not
//    classified below) or when js-yaml cannot read it.
//
// Diagnostic classes (by message form; the messages are those of
// src/spec/schema.c, src/spec/run_spec.c and src/workspace/workspace.c):
//   schema-level: what the JSON Schema expresses: unknown key, wrong type,
//     missing required key, enum, pattern, length, integer range, items,
//     duplicate items, key pattern, exactly one of, not together, duration,
//     unsupported version, empty file / not a mapping.
//   semantic: facts outside the file: paths that must exist or stay inside the
//     workspace, curated names and versions in the catalog, declared targets,
//     framework/distribution and secret/variable consistency, default names,
//     duplicate addresses, slurm login targets, redefining 'local'.
//
// YAML is read with js-yaml using exactly the YAML 1.2 core schema (what
// editors such as yaml-language-server use, and what amlspec's loader
// implements): 3.10 is a number, "3.10" a string, yes a string, 0o17 and 0x10
// integers, 0b101, 1_000 and -0x10 strings. (js-yaml's own CORE_SCHEMA
// deviates on those last forms and on -.5, so its int and float types are
// replaced here.) A file holding no YAML document at all (empty, or only
// comments) is compared as {} -- an empty mapping: amlspec accepts an empty
// amlspec.yaml and rejects an empty run spec for its missing keys.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawnSync } = require("child_process");
const Ajv2020 = require("ajv/dist/2020");
const yaml = require("js-yaml");

const args = process.argv.slice(2);
const verbose = args.includes("--verbose") || args.includes("-v");
const corpusOnly = args.includes("--corpus-only");

const AMLSPEC = process.env.AMLSPEC;
const SRC = process.env.AMLSPEC_SOURCE_DIR || path.resolve(__dirname, "..", "..");
if (!AMLSPEC) {
	console.error("agreement: AMLSPEC must name the amlspec binary");
	process.exit(2);
}
try {
	fs.accessSync(AMLSPEC, fs.constants.X_OK);
} catch (e) {
	console.error(`agreement: AMLSPEC=${AMLSPEC} is not an executable file (build amlspec first)`);
	process.exit(2);
}

// ---- YAML 1.2 core schema ----

const INT_RE = /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/;
const FLOAT_RE = /^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;

const int12 = new yaml.Type("tag:yaml.org,2002:int", {
	kind: "scalar",
	resolve: (d) => d !== null && INT_RE.test(d),
	construct: (d) =>
		d.startsWith("0o") ? parseInt(d.slice(2), 8) : d.startsWith("0x") ? parseInt(d.slice(2), 16) : Number(d),
	predicate: (o) => typeof o === "number" && Number.isInteger(o),
	represent: (o) => String(o),
});
const float12 = new yaml.Type("tag:yaml.org,2002:float", {
	kind: "scalar",
	resolve: (d) => d !== null && FLOAT_RE.test(d),
	construct: (d) => {
		if (/inf$/i.test(d)) return d.startsWith("-") ? -Infinity : Infinity;
		if (/nan$/i.test(d)) return NaN;
		return parseFloat(d);
	},
	predicate: (o) => typeof o === "number",
	represent: (o) => String(o),
});
const CORE12 = yaml.FAILSAFE_SCHEMA.extend({ implicit: [yaml.types.null, yaml.types.bool, int12, float12] });

function hasNoDocument(text) {
	return text
		.replace(/^\uFEFF/, "")
		.split(/\r?\n/)
		.every((l) => /^\s*(#.*)?$/.test(l));
}

// Returns { ok: true, value } or { ok: false, error }.
function readYaml(file) {
	const text = fs.readFileSync(file, "utf8");
	if (hasNoDocument(text)) return { ok: true, value: {}, empty: true };
	try {
		const docs = yaml.loadAll(text, null, { schema: CORE12, filename: file });
		if (docs.length !== 1) return { ok: false, error: `${docs.length} YAML documents` };
		return { ok: true, value: docs[0] === undefined ? null : docs[0] };
	} catch (e) {
		return { ok: false, error: e.message.split("\n")[0] };
	}
}

// ---- ajv ----

const ajv = new Ajv2020({ strict: false, allErrors: true });
const schemaFiles = {
	run: path.join(SRC, "schemas", "run.schema.json"),
	workspace: path.join(SRC, "schemas", "workspace.schema.json"),
};
const schemas = {};
const validators = {};
for (const [kind, file] of Object.entries(schemaFiles)) {
	schemas[kind] = JSON.parse(fs.readFileSync(file, "utf8"));
	validators[kind] = ajv.compile(schemas[kind]);
}

function ajvCheck(kind, value) {
	const v = validators[kind];
	const ok = v(value);
	const errors = ok ? [] : v.errors.map((e) => `${e.instancePath || "/"} ${e.message}`);
	return { valid: ok, errors };
}

// ---- amlspec diagnostics ----

const SCHEMA_LEVEL = [
	/unknown key( \(did you mean '.*'\?\))?$/s,
	/expected .+, got /s,
	/expected one of: /s,
	/missing required key/s,
	/must be at least \d+ characters$/s,
	/must not be empty$/s,
	/invalid value '.*' \((did you mean '.*'\? )?expected one of: /s,
	/invalid value '.*': /s,
	/must be at (least|most) -?\d+, got /s,
	/unsupported version /s,
	/needs at least \d+ items?$/s,
	/duplicate item '/s,
	/invalid key '.*': /s,
	/needs exactly one of .*; (none|more than one) is given/s,
	/cannot be used together with '/s,
	/invalid duration '/s,
	/must be at least 1 second$/s,
	/^file is empty; a run spec needs/s,
	/^a run spec must be a mapping of keys/s,
];
const SEMANTIC = [
	/source_directory: '.*' (does not exist|is not a directory|resolves to .*, outside the workspace)/s,
	/script: (must be relative to source_directory|'.*' (does not exist in|resolves outside|is not a regular file))/s,
	/unknown curated environment '/s,
	/'.*' has no version \d+/s,
	/unknown target '/s,
	/distribution: applies to framework /s,
	/is also set in environment_variables/s,
	/the default name '.*' \(from the file name\) is not a valid name/s,
	/two specs have the address /s,
	/is not an ssh target declared here/s,
	/'local' is built in and cannot be redefined/s,
	/catalogs\[\d+\]: (folder '.*' does not exist|'.*' is outside the workspace)/s,
];

function classify(message) {
	if (SEMANTIC.some((r) => r.test(message))) return "semantic";
	if (SCHEMA_LEVEL.some((r) => r.test(message))) return "schema";
	return "other";
}

function runAmlspec(cwd, argv) {
	const r = spawnSync(AMLSPEC, ["--no-color", "--output", "json", ...argv], {
		cwd,
		env: { ...process.env, NO_COLOR: "1" },
		encoding: "utf8",
		maxBuffer: 64 << 20,
	});
	if (r.error) throw r.error;
	let out = null;
	try {
		out = JSON.parse(r.stdout);
	} catch (e) {
		// reported by the caller
	}
	return { status: r.status === null ? `killed by ${r.signal}` : r.status, out, stderr: r.stderr, stdout: r.stdout };
}

function errorsFor(out, display) {
	return (out.diagnostics || []).filter((d) => d.severity === "error" && d.file === display);
}

// ---- cases ----

const results = []; // { corpus, file, expected, ajv, amlspec, status, details }
let skipped = [];

function record(r) {
	results.push(r);
	if (verbose)
		console.log(
			`${r.status.padEnd(8)} ${r.file}  expected=${r.expected === null ? "-" : fmt(r.expected)} ajv=${fmt(r.ajv)} amlspec=${fmt(r.amlspec)}`
		);
	if (verbose && r.status === "ok") for (const d of r.details) console.log(`         ${d}`);
}

function fmt(v) {
	return v === true ? "valid" : v === false ? "invalid" : String(v);
}

function tmpdir(prefix) {
	return fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), prefix));
}

const temps = [];
process.on("exit", () => {
	for (const t of temps) fs.rmSync(t, { recursive: true, force: true });
});

function checkCorpus() {
	const corpus = path.join(SRC, "tests", "schema", "corpus");
	for (const expectDir of ["valid", "invalid"]) {
		const dir = path.join(corpus, expectDir);
		const expected = expectDir === "valid";
		const files = fs
			.readdirSync(dir)
			.filter((f) => f.endsWith(".yaml"))
			.sort();
		for (const f of files) {
			const rel = path.join("tests/schema/corpus", expectDir, f);
			const abs = path.join(dir, f);
			const kind = f.endsWith(".amlspec.yaml") ? "workspace" : "run";
			const r = { corpus: "corpus", file: rel, expected, ajv: null, amlspec: null, details: [] };
			const y = readYaml(abs);
			if (!y.ok) {
				r.status = "FAIL";
				r.details.push(`js-yaml cannot read it: ${y.error}`);
				record(r);
				continue;
			}
			const a = ajvCheck(kind, y.value);
			r.ajv = a.valid;
			let res, display;
			if (kind === "run") {
				display = path.join(expectDir, f);
				res = runAmlspec(corpus, ["--workspace", ".", "validate", display]);
			} else {
				const t = tmpdir("amlspec-agree-ws.");
				temps.push(t);
				fs.copyFileSync(abs, path.join(t, "amlspec.yaml"));
				// The catalogs it names exist (their existence is not the schema's concern).
				const cats = y.value && typeof y.value === "object" ? y.value.catalogs : null;
				if (Array.isArray(cats))
					for (const c of cats)
						if (typeof c === "string" && c && !path.isAbsolute(c) && !c.split("/").includes(".."))
							fs.mkdirSync(path.join(t, c), { recursive: true });
				display = "amlspec.yaml";
				res = runAmlspec(t, ["validate", display]);
			}
			if (!res.out || (res.status !== 0 && res.status !== 1)) {
				r.amlspec = "crash";
				r.status = "FAIL";
				r.details.push(`amlspec ${typeof res.status === "number" ? "exited " + res.status : "was " + res.status}: ${(res.stderr || res.stdout).trim().slice(0, 300)}`);
				record(r);
				continue;
			}
			r.amlspec = res.out.valid;
			const errs = (res.out.diagnostics || []).filter((d) => d.severity === "error");
			const notSchema = errs.filter((d) => classify(d.message) !== "schema");
			const agree = r.ajv === r.amlspec && r.ajv === expected;
			r.status = agree && notSchema.length === 0 ? "ok" : "FAIL";
			if (r.ajv !== r.amlspec) r.details.push("ajv and amlspec disagree");
			else if (r.ajv !== expected) r.details.push(`both say ${fmt(r.ajv)}, but the case is filed under ${expectDir}/`);
			for (const d of notSchema)
				r.details.push(`not a schema-level case: amlspec reports a ${classify(d.message)} error: ${d.message}`);
			if (r.status !== "ok" || verbose) {
				for (const e of a.errors.slice(0, 4)) r.details.push(`ajv: ${e}`);
				for (const d of errs.slice(0, 4)) r.details.push(`amlspec: ${d.file}:${d.line}:${d.column}: ${d.message}`);
			}
			record(r);
		}
	}
}

function walkFiles(dir, out) {
	for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
		const p = path.join(dir, e.name);
		if (e.isDirectory()) walkFiles(p, out);
		else if (e.isFile()) out.push(p);
	}
	return out;
}

function specKind(name) {
	if (name === "amlspec.yaml") return "workspace";
	if (name === "run.yaml" || name === "run.yml" || /\.run\.ya?ml$/.test(name)) return "run";
	return null;
}

function checkCliCases() {
	const casesDir = path.join(SRC, "tests", "cases");
	if (!fs.existsSync(casesDir)) return;
	for (const c of fs.readdirSync(casesDir).sort()) {
		const filesDir = path.join(casesDir, c, "files");
		if (!fs.existsSync(filesDir) || !fs.statSync(filesDir).isDirectory()) continue;
		const specs = walkFiles(filesDir, [])
			.map((p) => path.relative(filesDir, p))
			.filter((p) => specKind(path.basename(p)))
			.sort();
		if (!specs.length) continue;
		const t = tmpdir(`amlspec-agree-case-${c}.`);
		temps.push(t);
		fs.cpSync(filesDir, t, { recursive: true });
		for (const rel of specs) {
			const kind = specKind(path.basename(rel));
			const file = path.join("tests/cases", c, "files", rel);
			const y = readYaml(path.join(t, rel));
			if (!y.ok) {
				skipped.push(`${file}: js-yaml cannot read it (${y.error})`);
				continue;
			}
			const res = runAmlspec(t, ["validate", rel]);
			if (!res.out || (res.status !== 0 && res.status !== 1)) {
				record({ corpus: "cases", file, expected: null, ajv: null, amlspec: "crash", status: "FAIL",
					details: [`amlspec ${typeof res.status === "number" ? "exited " + res.status : "was " + res.status}: ${(res.stderr || res.stdout).trim().slice(0, 300)}`] });
				continue;
			}
			const errs = errorsFor(res.out, rel);
			const other = errs.filter((d) => classify(d.message) === "other");
			if (other.length) {
				skipped.push(`${file}: not schema-level: ${other[0].message}`);
				continue;
			}
			const schemaErrs = errs.filter((d) => classify(d.message) === "schema");
			const a = ajvCheck(kind, y.value);
			const r = { corpus: "cases", file, expected: null, ajv: a.valid, amlspec: schemaErrs.length === 0, details: [] };
			r.status = r.ajv === r.amlspec ? "ok" : "FAIL";
			if (r.status !== "ok" || verbose) {
				for (const e of a.errors.slice(0, 4)) r.details.push(`ajv: ${e}`);
				for (const d of errs.slice(0, 4))
					r.details.push(`amlspec (${classify(d.message)}): ${d.line}:${d.column}: ${d.message}`);
			}
			record(r);
		}
	}
}

// Every default and example in the schemas must be valid against its own
// subschema (editors offer them as completions).
function checkExamples() {
	const check = (kind, node, where) => {
		if (!node || typeof node !== "object") return;
		if (Array.isArray(node)) {
			node.forEach((n, i) => check(kind, n, `${where}/${i}`));
			return;
		}
		const samples = [];
		if ("default" in node) samples.push(["default", node.default]);
		if (Array.isArray(node.examples)) node.examples.forEach((e, i) => samples.push([`examples/${i}`, e]));
		if (samples.length) {
			const sub = { ...node };
			delete sub.default;
			delete sub.examples;
			delete sub.$id;
			delete sub.$schema;
			const v = new Ajv2020({ strict: false, allErrors: true }).compile(sub);
			for (const [what, value] of samples) {
				const ok = v(value);
				const r = {
					corpus: "schema",
					file: `${path.basename(schemaFiles[kind])}#${where || "/"}/${what}`,
					expected: true,
					ajv: ok,
					amlspec: "-",
					status: ok ? "ok" : "FAIL",
					details: ok ? [] : v.errors.map((e) => `ajv: ${e.instancePath || "/"} ${e.message}`),
				};
				if (!ok) r.details.unshift(`${JSON.stringify(value)} does not validate against its own schema`);
				record(r);
			}
		}
		for (const [k, v] of Object.entries(node)) if (k !== "default" && k !== "examples") check(kind, v, `${where}/${k}`);
	};
	for (const kind of Object.keys(schemas)) {
		// The schema must also compile in ajv's strict mode, except for two of
		// ajv's own restrictions on valid JSON Schema: type arrays
		// (allowUnionTypes) and `required` naming properties declared by the
		// parent rather than the oneOf branch (strictRequired).
		const r = { corpus: "schema", file: `${path.basename(schemaFiles[kind])} (ajv strict mode)`, expected: true, amlspec: "-", details: [] };
		try {
			new Ajv2020({ strict: true, strictRequired: false, allowUnionTypes: true, allErrors: true }).compile(schemas[kind]);
			r.ajv = true;
			r.status = "ok";
		} catch (e) {
			r.ajv = false;
			r.status = "FAIL";
			r.details.push(e.message);
		}
		record(r);
		check(kind, schemas[kind], "");
	}
}

checkExamples();
checkCorpus();
if (!corpusOnly) checkCliCases();

const failed = results.filter((r) => r.status !== "ok");
if (failed.length) {
	console.log("\nDisagreements and corpus problems:\n");
	const w = Math.max(...failed.map((r) => r.file.length), 4);
	console.log(`${"file".padEnd(w)}  ${"expected".padEnd(8)}  ${"ajv".padEnd(7)}  amlspec`);
	console.log(`${"-".repeat(w)}  --------  -------  -------`);
	for (const r of failed) {
		console.log(
			`${r.file.padEnd(w)}  ${(r.expected === null ? "-" : fmt(r.expected)).padEnd(8)}  ${fmt(r.ajv).padEnd(7)}  ${fmt(
				r.amlspec
			)}`
		);
		for (const d of r.details) console.log(`${" ".repeat(w + 2)}${d}`);
	}
	console.log("");
}
const by = (c) => results.filter((r) => r.corpus === c).length;
console.log(
	`checked: ${by("corpus")} corpus files, ${by("cases")} CLI case files, ${by("schema")} schema self-checks` +
		(skipped.length ? `; ${skipped.length} CLI case files not compared (not schema-level)` : "")
);
if (verbose) for (const s of skipped) console.log(`  skipped ${s}`);
console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
process.exit(failed.length ? 1 : 0);
