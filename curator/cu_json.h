/*
 * cu_json: the JSON documents of `--format json` (docs/JSON.md), built
 * with jansson (never a hand-escaped string). Every document is an object
 * opened with cu_json_doc: "schema_version" first (CU_JSON_SCHEMA, raised
 * when a key changes meaning or goes away; new keys do not raise it),
 * then the command's keys. Sizes are integers of bytes (keys ending in
 * _bytes), durations integers of seconds (_seconds), times ISO 8601 UTC
 * strings (cu_json_time), IDs of 64-bit items hex strings as the text
 * output prints them, states and kinds names.
 *
 * Ownership follows jansson's: the _new/_set_new functions steal the
 * reference they are given. Not thread-safe per document.
 */
#ifndef CU_JSON_H
#define CU_JSON_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#define CU_JSON_SCHEMA 1

/* A new document: { "schema_version": CU_JSON_SCHEMA }. NULL when out of memory. */
json_t *cu_json_doc(void);

/* Unix time t (seconds, fractions dropped) as "2026-12-02T14:37:48Z"; null for t <= 0. */
json_t *cu_json_time(double t);

/* A 64-bit ID as the hex string the text output prints ("1000000000004"). */
json_t *cu_json_hex(uint64_t id);

/* A string, or null for NULL or "". */
json_t *cu_json_str(const char *s);

/*
 * Print doc (compact: one line, no spaces, then a newline) to out
 * and release it. 0, or -ENOMEM when doc is NULL (a failed build), or
 * -EIO when it could not be written.
 */
int cu_json_print(json_t *doc, FILE *out);

/*
 * Is --format json asked for the running command (ctx->seen)? *json
 * receives 1 for json, 0 for text (or none given). 0, or CU_EXIT_USAGE
 * after printing that the format is not text or json. (Declared here so
 * that cu_cmd.h does not need jansson.)
 */
struct cu_ctx;
int cu_json_wanted(struct cu_ctx *ctx, int *json);

#endif
