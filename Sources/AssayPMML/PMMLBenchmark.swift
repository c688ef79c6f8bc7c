// The throughput probe behind `assay bench pmml`: compile once, score the same rows repeatedly on one
// thread, report the median rows per second of several passes and a checksum that keeps the work alive.

#if canImport(Glibc)
import Glibc
#endif

public enum PMMLBenchmark {
    public static func rowsPerSecond(document: [UInt8], rows: [[PMMLValue]], minimumSeconds: Double) throws
        -> (rowsPerSecond: Double, checksum: Double)
    {
        let model = try PMMLModel.load(document)
        var evaluator = model.makeEvaluator()
        guard !rows.isEmpty else { return (0, 0) }
        var checksum = 0.0
        // One warm-up pass so that lazily grown buffers (transient strings) reach their steady size.
        for row in rows { checksum += try evaluator.scoreChecksum(row) }
        var rates: [Double] = []
        let start = now()
        repeat {
            let passStart = now()
            var scored = 0
            repeat {
                for row in rows { checksum += try evaluator.scoreChecksum(row) }
                scored += rows.count
            } while now() - passStart < 0.05
            rates.append(Double(scored) / (now() - passStart))
        } while now() - start < minimumSeconds || rates.count < 5
        rates.sort()
        return (rates[rates.count / 2], checksum)
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
