import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// An SVG file parsed as XML (a malformed file fails to parse): its elements with their attributes, the
/// ids of the groups that enclose them, and their text.
struct SVGDocument {
    struct Element {
        var name: String
        var attributes: [String: String]
        var groups: [String]
        var text = ""
        var classes: String { attributes["class"] ?? "" }
    }

    var elements: [Element] = []

    init(path: String) throws {
        guard let parser = XMLParser(contentsOf: URL(fileURLWithPath: path)) else {
            throw CocoaError(.fileReadUnknown)
        }
        let collector = Collector()
        parser.delegate = collector
        guard parser.parse() else { throw parser.parserError ?? CocoaError(.fileReadCorruptFile) }
        elements = collector.elements
    }

    func all(_ name: String, class className: String? = nil, inGroup group: String? = nil) -> [Element] {
        elements.filter { element in
            element.name == name && (className.map { element.classes == $0 } ?? true)
                && (group.map { element.groups.contains($0) } ?? true)
        }
    }

    func text(id: String) -> String? { elements.first { $0.attributes["id"] == id }?.text }

    private final class Collector: NSObject, XMLParserDelegate {
        var elements: [Element] = []
        var open: [(name: String, index: Int)] = []

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            let groups = open.compactMap { elements[$0.index].name == "g" ? elements[$0.index].attributes["id"] : nil }
            elements.append(Element(name: name, attributes: attributes, groups: groups))
            open.append((name, elements.count - 1))
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            open.removeLast()
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if let last = open.last { elements[last.index].text += string }
        }
    }
}
