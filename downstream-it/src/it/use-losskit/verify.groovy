// Checks what the downstream program printed against torch's numbers in the seed golden file, and that the BOM
// pins the versions losskit itself builds with. Every check reads a value the build produced; none can pass by
// construction.
import groovy.json.JsonSlurper
import java.math.RoundingMode

File log = new File(basedir, 'build.log')
assert log.isFile() : 'no build.log'
lines = log.readLines()  // a binding variable: printed() reads it

String printed(String key) {
  def hits = lines.findAll { it.startsWith(key + ': ') }
  assert hits.size() == 1 : "expected one line '${key}: ...' in build.log, found ${hits.size()}"
  return hits[0].substring(key.length() + 2).trim()
}

// torch's result for the seed example: fixtures/goldens/seed-examples.json, case seed000-ce-mean
// (logits [[1.2, 0.3, 2.5], [0.8, 1.4, 0.6]], targets [2, 1], PyTorch's defaults).
File root = new File(losskitRoot).canonicalFile
def golden = new JsonSlurper().parse(new File(root, 'fixtures/goldens/seed-examples.json'))
def seed = golden.cases.find { it.id == 'seed000-ce-mean' }
assert seed != null : 'seed000-ce-mean is missing from the golden file'
assert seed.input.data.size() == 6 && seed.target.data == [2, 1] && seed.reduction == 'mean'
assert seed.label_smoothing == 0.0 && seed.weight == null && seed.ignore_index == -100
BigDecimal torchLoss = new BigDecimal(seed.expected.loss.data[0].toString())
String expected = torchLoss.setScale(5, RoundingMode.HALF_UP).toPlainString()
List<BigDecimal> torchGrad = seed.expected.grad_input.data.collect { new BigDecimal(it.toString()) }
println "torch (seed000-ce-mean): loss ${torchLoss} -> ${expected}"

for (key in ['core loss', 'djl loss', 'djl engine loss', 'onnx runtime loss']) {
  String v = printed(key)
  assert v == expected : "${key}: printed ${v}, torch gives ${expected} (${torchLoss})"
}
for (key in ['core gradient', 'djl gradient', 'djl engine gradient']) {
  String v = printed(key)
  List<BigDecimal> g = v.replaceAll(/[\[\]]/, '').split(',').collect { new BigDecimal(it.trim()) }
  assert g.size() == torchGrad.size() : "${key}: ${v}"
  g.eachWithIndex { x, i ->
    assert (x - torchGrad[i]).abs() <= 0.000006 : "${key}[${i}]: printed ${x}, torch gives ${torchGrad[i]}"
  }
}

// The program ran with --add-modules jdk.incubator.vector, so the Vector API kernels must be on.
assert printed('kernels').startsWith('Vector API (jdk.incubator.vector), ') : printed('kernels')

// The ONNX export: a non-empty model, written where the program said, no temporary file beside it.
def m = printed('onnx model') =~ /^(\d+) bytes, written to (\S+)$/
assert m.matches() : printed('onnx model')
long size = m.group(1) as long
File model = new File(basedir, 'target/' + m.group(2))
assert size > 0 && model.isFile() && model.length() == size : "model ${model}: ${model.length()} bytes, printed ${size}"
def leftovers = new File(basedir, 'target').list().findAll { it.endsWith('.tmp') }
assert leftovers.isEmpty() : "temporary files left: ${leftovers}"

// The BOM pins the versions the parent builds and tests with.
String property(File pom, String name) {
  def doc = javax.xml.parsers.DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(pom)
  def props = doc.documentElement.getElementsByTagName('properties').item(0)
  def values = props.getElementsByTagName(name)
  return values.length == 1 ? values.item(0).textContent.trim() : null
}
for (p in ['djl.version', 'pytorch.version', 'tribuo.version', 'onnxruntime.version']) {
  String a = property(new File(root, 'pom.xml'), p), b = property(new File(root, 'bom/pom.xml'), p)
  assert a && a == b : "${p}: losskit-parent has '${a}', losskit-bom has '${b}'"
}
println "downstream build: all checks passed"
return true
