/** The characters and fields item 1 of issue 8 is about, shared by the unit and the end-to-end tests. */

/** Escapes (as written in JSON text) of what no store can hold, or is refused with it. */
export const BAD_TEXT: Array<[string, string]> = [
  ['U+0000', '\\u0000'],
  ['a lone high surrogate', '\\ud800'],
  ['a lone low surrogate', '\\udc00'],
  ['a reversed surrogate pair', '\\udc00\\ud800'],
  ['the noncharacter U+FFFF', '\\uffff'],
  ['the noncharacter U+FFFE', '\\ufffe'],
  ['the noncharacter U+FDD0', '\\ufdd0'],
  ['the noncharacter U+1FFFF', '\\ud83f\\udfff'],
];

/**
 * Every string field of every write that reaches a store: [field, method, path under /api/v1,
 * body with X where the bad text goes, the error path]. The class is also the target class.
 */
export const UNSTORABLE_FIELDS = (db: string, cls: string): Array<[string, 'post' | 'put', string, string, string]> => {
  const CLASS = `"id":"${cls}","label":"${cls}"`;
  return [
    ['database name', 'post', '/databases', '{"name":"crmX"}', 'name'],
    ['database description', 'post', '/databases', '{"name":"crm","description":"aXb"}', 'description'],
    ['class id', 'post', `/databases/${db}/classes`, '{"id":"PX","label":"P"}', 'id'],
    ['class label', 'post', `/databases/${db}/classes`, '{"id":"P","label":"PX"}', 'label'],
    ['class description', 'post', `/databases/${db}/classes`, `{${CLASS},"description":"X"}`, 'description'],
    ['class parent', 'post', `/databases/${db}/classes`, `{${CLASS},"parent_class":"AX"}`, 'parent_class'],
    ['property name', 'post', `/databases/${db}/classes`, `{${CLASS},"properties":[{"name":"nX","type":"string"}]}`, 'properties[0].name'],
    ['property description', 'post', `/databases/${db}/classes`, `{${CLASS},"properties":[{"name":"n","type":"string","description":"X"}]}`, 'properties[0].description'],
    ['relationship predicate', 'post', `/databases/${db}/classes`, `{${CLASS},"relationships":[{"predicate":"kX","target_class":"${cls}","cardinality":"n:m"}]}`, 'relationships[0].predicate'],
    ['relationship target class', 'post', `/databases/${db}/classes`, `{${CLASS},"relationships":[{"predicate":"k","target_class":"PX","cardinality":"n:m"}]}`, 'relationships[0].target_class'],
    ['relationship label', 'post', `/databases/${db}/classes`, `{${CLASS},"relationships":[{"predicate":"k","target_class":"${cls}","cardinality":"n:m","label":"X"}]}`, 'relationships[0].label'],
    ['class update label', 'put', `/databases/${db}/classes/${cls}`, '{"label":"X"}', 'label'],
    ['class update description', 'put', `/databases/${db}/classes/${cls}`, '{"description":"X"}', 'description'],
    ['instance id', 'post', `/databases/${db}/classes/${cls}/instances`, '{"id":"aX"}', 'id'],
    ['instance class_id', 'post', `/databases/${db}/classes/${cls}/instances`, `{"class_id":"${cls}X"}`, 'class_id'],
    ['property value', 'post', `/databases/${db}/classes/${cls}/instances`, '{"properties":{"name":"AdaX"}}', 'properties.name'],
    ['property key', 'post', `/databases/${db}/classes/${cls}/instances`, '{"properties":{"nX":"Ada"}}', 'properties.nX'],
    ['array item', 'post', `/databases/${db}/classes/${cls}/instances`, '{"properties":{"tags":["a","X"]}}', 'properties.tags[1]'],
    ['json value at depth', 'post', `/databases/${db}/classes/${cls}/instances`, '{"properties":{"doc":{"a":[{"b":{"c":"X"}}]}}}', 'properties.doc.a[0].b.c'],
    ['json key at depth', 'post', `/databases/${db}/classes/${cls}/instances`, '{"properties":{"doc":{"a":{"kX":1}}}}', 'properties.doc.a.kX'],
    ['relationship predicate key', 'post', `/databases/${db}/classes/${cls}/instances`, '{"relationships":{"kX":"bob"}}', 'relationships.kX'],
    ['relationship target', 'post', `/databases/${db}/classes/${cls}/instances`, '{"relationships":{"knows":"bobX"}}', 'relationships.knows'],
    ['relationship target in a list', 'post', `/databases/${db}/classes/${cls}/instances`, '{"relationships":{"knows":["bob","cyX"]}}', 'relationships.knows[1]'],
    ['instance update value', 'put', `/databases/${db}/classes/${cls}/instances/ada`, '{"properties":{"name":"X"}}', 'properties.name'],
    ['instance update target', 'put', `/databases/${db}/classes/${cls}/instances/ada`, '{"relationships":{"knows":["X"]}}', 'relationships.knows[0]'],
    ['bulk instance id', 'post', `/databases/${db}/classes/${cls}/instances:bulk`, '{"instances":[{"id":"a"},{"id":"bX"}]}', 'instances[1].id'],
    ['bulk property value', 'post', `/databases/${db}/classes/${cls}/instances:bulk`, '{"instances":[{"properties":{"name":"X"}}]}', 'instances[0].properties.name'],
    ['bulk relationship target', 'post', `/databases/${db}/classes/${cls}/instances:bulk`, '{"instances":[{"relationships":{"knows":"X"}}]}', 'instances[0].relationships.knows'],
    ['an unknown field (refused by the schema anyway)', 'post', '/databases', '{"name":"crm","noteX":"x"}', 'noteX'],
  ];
};
