// EDRSigma — what the engine does where the Sigma specification leaves room.
//
// Values and matching
// - Strings compare case-insensitively unless `|cased`: both sides are lowercased once (ASCII
//   bytewise, other scalars with Unicode's lowercase mapping, no context rules, no full case
//   folding: "straße" does not equal "STRASSE"). Regexes (`|re`) are case-sensitive unless `|re|i`.
// - Wildcards and escapes follow the specification's table (pySigma's algorithm): `\*`, `\?` and
//   `\\` escape, any other backslash is literal; `?` is one Unicode scalar.
// - `field: null` matches a field that is absent or has a null value; `''` matches only an empty
//   string; `|exists: true/false` tests presence only (a null-valued field exists).
// - Numbers and booleans in events compare as their plain text (`4688`, `true`); lt/lte/gt/gte
//   read numbers (or numeric strings). Arrays match if any element matches.
// - A test on an absent field is false, so `not selection` is true for events lacking its fields.
// - `neq` means: the field exists and equals none of the values.
// - Keyword (field-less) values are searched as substrings of each field's value separately (a
//   keyword never spans two fields); `'|all'` requires every keyword (in any fields).
// - `|time` modifiers (minute…year) read ISO 8601 text or epoch seconds, in UTC; `week` is the
//   ISO 8601 week number.
// - `|cidr` matches IPv4 and IPv6 (IPv4-mapped IPv6 addresses match IPv4 networks); values that
//   are not IP addresses never match.
// - `|expand` substitutes SigmaOptions.placeholders (every combination); an undefined
//   placeholder rejects the rule.
// - Field names are case-sensitive.
//
// Routing
// - A rule applies to an event when each logsource key the rule names equals the event's
//   (rule keys are lowercased at load, event keys on first sight).
//
// Filters (sigma-filters-specification)
// - A filter document is applied as `rule AND NOT filter` to the rules it names (by id or name)
//   whose logsource it covers, or to every rule of its logsource when it names none.
//
// Correlations (streaming semantics)
// - Windows slide over event timestamps; each group (group-by values, aliases resolved per
//   referenced rule) keeps its own window. When the condition holds, one match is emitted for the
//   correlation rule (SigmaMatch.correlation says type, group, value, window) and the group's
//   state restarts, so a burst fires once per threshold crossing.
// - Conditions need a lower bound (gt/gte/eq) for event_count, value_count, temporal,
//   temporal_ordered and value_sum — an upper bound alone can only be decided once a window
//   closes, which a live stream never signals; such rules are rejected.
// - temporal: the referenced rules (default: all) seen within the timespan; temporal_ordered:
//   in the order listed, checked when the last rule's event arrives.
// - value_avg compares the window's running average; value_percentile compares the share (in
//   percent) of the window's events that carry the current event's value (a rarity test, e.g.
//   `lte: 1`).
// - Rules (and intermediate correlations) referenced by a correlation do not alert on their own
//   unless a referencing correlation sets `generate: true`.
// - State is bounded (SigmaOptions.correlationMaxGroups / correlationMaxEventsPerGroup): the
//   least recently updated sixteenth of the groups is evicted when full, the oldest events of a
//   group when it is full; SigmaEngine.correlationStats counts both.
//
// Compilation
// - Each logsource key compiles into one unit: fields resolved to slots (an event's field-name
//   layout is mapped once and cached), literals lowercased once, all literals of a field matched
//   together (contains: Aho–Corasick; prefix/exact: forward trie; suffix: reverse trie), and
//   each rule gets an "anchor" set of literals of which one must hold, so only rules whose
//   anchor was seen are evaluated. Event values are lowercased once per event and shared by
//   all units.
