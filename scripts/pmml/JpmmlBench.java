import java.io.BufferedReader;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.jpmml.evaluator.Evaluator;
import org.jpmml.evaluator.EvaluatorUtil;
import org.jpmml.evaluator.FieldValue;
import org.jpmml.evaluator.InputField;
import org.jpmml.evaluator.LoadingModelEvaluatorBuilder;

/**
 * Single-threaded JPMML-Evaluator throughput benchmark.
 *
 * Usage: java -cp <jpmml jars>:. JpmmlBench NAME DOCUMENT.pmml INPUT.csv [ROWS] [WARMUP_PASSES] [PASSES] [EXPECTED.csv]
 *
 * Loads the document, parses the input CSV once (numbers as Double, other cells as
 * String, empty cells as missing), then per pass scores ROWS rows (the input cycled):
 * for each row, InputField.prepare for every input field, Evaluator.evaluate, and
 * EvaluatorUtil.decodeAll of the results. After WARMUP_PASSES unmeasured passes it
 * times PASSES passes and prints on standard output:
 *
 *     jpmml NAME rows_per_second=N checksum=C
 *
 * where N is the median over the measured passes and C the sum of the numeric results of
 * one pass (what `assay bench pmml` sums too). With EXPECTED.csv it first writes there the
 * decoded results of every distinct input row, a column per result name, so that the
 * other runtime can be checked against them. Per-pass figures go to standard error.
 */
public class JpmmlBench {

	public static void main(String[] args) throws Exception {
		if (args.length < 3) {
			System.err.println("usage: JpmmlBench NAME DOCUMENT.pmml INPUT.csv [ROWS] [WARMUP_PASSES] [PASSES]");
			System.exit(2);
		}
		String name = args[0];
		File document = new File(args[1]);
		File input = new File(args[2]);
		int rows = args.length > 3 ? Integer.parseInt(args[3]) : 100_000;
		int warmupPasses = args.length > 4 ? Integer.parseInt(args[4]) : 2;
		int passes = args.length > 5 ? Integer.parseInt(args[5]) : 5;
		File expected = args.length > 6 ? new File(args[6]) : null;

		long loadStart = System.nanoTime();
		Evaluator evaluator = new LoadingModelEvaluatorBuilder()
			.load(document)
			.build();
		evaluator.verify();
		double loadMillis = (System.nanoTime() - loadStart) / 1e6;

		List<? extends InputField> inputFields = evaluator.getInputFields();
		List<Object[]> records = readCsv(input, inputFields);
		if (records.isEmpty()) {
			throw new IllegalArgumentException("No rows in " + input);
		}
		System.err.printf("%s: loaded in %.0f ms, %d input fields, %d distinct rows%n", name, loadMillis, inputFields.size(), records.size());

		if (expected != null) {
			writeExpected(evaluator, inputFields, records, expected);
		}

		double checksum = 0;
		for (int i = 0; i < warmupPasses; i++) {
			long start = System.nanoTime();
			checksum = pass(evaluator, inputFields, records, rows);
			double seconds = (System.nanoTime() - start) / 1e9;
			System.err.printf("%s: warm-up pass %d: %.0f rows/s%n", name, i + 1, rows / seconds);
		}

		double[] rates = new double[passes];
		for (int i = 0; i < passes; i++) {
			long start = System.nanoTime();
			checksum = pass(evaluator, inputFields, records, rows);
			double seconds = (System.nanoTime() - start) / 1e9;
			rates[i] = rows / seconds;
			System.err.printf("%s: pass %d: %.0f rows/s%n", name, i + 1, rates[i]);
		}
		Arrays.sort(rates);
		double median = (passes % 2 == 1) ? rates[passes / 2] : (rates[passes / 2 - 1] + rates[passes / 2]) / 2.0;

		System.out.printf("jpmml %s rows_per_second=%d checksum=%s%n", name, Math.round(median), Double.toString(checksum));
	}

	/** Scores one row: prepares every input field, evaluates and decodes the results. */
	private static Map<String, ?> score(Evaluator evaluator, List<? extends InputField> inputFields, Object[] record, Map<String, FieldValue> arguments) {
		arguments.clear();
		for (int i = 0; i < inputFields.size(); i++) {
			InputField inputField = inputFields.get(i);
			arguments.put(inputField.getName(), inputField.prepare(record[i]));
		}
		return EvaluatorUtil.decodeAll(evaluator.evaluate(arguments));
	}

	/** Sums the numeric results of ROWS rows, so the work cannot be skipped and both runtimes can be compared. */
	private static double pass(Evaluator evaluator, List<? extends InputField> inputFields, List<Object[]> records, int rows) {
		double checksum = 0;
		int recordCount = records.size();
		Map<String, FieldValue> arguments = new LinkedHashMap<>();
		for (int row = 0; row < rows; row++) {
			for (Object value : score(evaluator, inputFields, records.get(row % recordCount), arguments).values()) {
				if (value instanceof Number) {
					checksum += ((Number) value).doubleValue();
				}
			}
		}
		return checksum;
	}

	/** Writes the decoded results of every distinct row: a header of result names, then a line per row, missing as empty. */
	private static void writeExpected(Evaluator evaluator, List<? extends InputField> inputFields, List<Object[]> records, File file) throws Exception {
		Map<String, FieldValue> arguments = new LinkedHashMap<>();
		StringBuilder text = new StringBuilder();
		List<String> names = null;
		for (Object[] record : records) {
			Map<String, ?> decoded = score(evaluator, inputFields, record, arguments);
			if (names == null) {
				names = new ArrayList<>(decoded.keySet());
				text.append(String.join(",", names)).append('\n');
			}
			List<String> cells = new ArrayList<>();
			for (String name : names) {
				Object value = decoded.get(name);
				cells.add(value == null ? "" : value.toString());
			}
			text.append(String.join(",", cells)).append('\n');
		}
		Files.write(file.toPath(), text.toString().getBytes(StandardCharsets.UTF_8));
	}

	/** Reads a CSV with a header row; the columns are matched to the input fields by name. Simple format: no quoted commas. */
	private static List<Object[]> readCsv(File file, List<? extends InputField> inputFields) throws Exception {
		List<Object[]> records = new ArrayList<>();
		try (BufferedReader reader = Files.newBufferedReader(file.toPath(), StandardCharsets.UTF_8)) {
			String headerLine = reader.readLine();
			if (headerLine == null) {
				return records;
			}
			List<String> header = Arrays.asList(headerLine.split(",", -1));
			int[] columns = new int[inputFields.size()];
			for (int i = 0; i < columns.length; i++) {
				String fieldName = inputFields.get(i).getName();
				columns[i] = header.indexOf(fieldName);
				if (columns[i] < 0) {
					throw new IllegalArgumentException("Input field " + fieldName + " is not a column of " + file);
				}
			}
			String line;
			while ((line = reader.readLine()) != null) {
				if (line.isEmpty()) {
					continue;
				}
				String[] cells = line.split(",", -1);
				Object[] record = new Object[columns.length];
				for (int i = 0; i < columns.length; i++) {
					record[i] = parseCell(cells[columns[i]]);
				}
				records.add(record);
			}
		}
		return records;
	}

	private static Object parseCell(String cell) {
		if (cell.isEmpty()) {
			return null;
		}
		try {
			return Double.valueOf(cell);
		} catch (NumberFormatException e) {
			return cell;
		}
	}
}
