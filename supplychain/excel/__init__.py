"""Everything that reads or writes xlsx: the import reader (python-calamine, after a scan of the
sheet's XML: reader.py, importer.py) and the workbook writers (xlsxwriter: writer.py, workbook.py,
template.py). openpyxl only reads workbooks back in tests and benchmarks (and lends a formula
translator and column-letter helpers)."""
