/// Docker-style `adjective_surname` names for containers created without `--name`.
enum NameGenerator {
    static let adjectives = [
        "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful", "blissful", "bold",
        "boring", "brave", "busy", "charming", "clever", "compassionate", "competent", "condescending", "confident", "cool",
        "cranky", "crazy", "dazzling", "determined", "distracted", "dreamy", "eager", "ecstatic", "elastic", "elated",
        "elegant", "eloquent", "epic", "exciting", "fervent", "festive", "flamboyant", "focused", "friendly", "frosty",
        "funny", "gallant", "gifted", "goofy", "gracious", "great", "happy", "hardcore", "heuristic", "hopeful", "hungry",
        "infallible", "inspiring", "intelligent", "interesting", "jolly", "jovial", "keen", "kind", "laughing", "loving",
        "lucid", "magical", "modest", "musing", "mystifying", "naughty", "nervous", "nice", "nifty", "nostalgic",
        "objective", "optimistic", "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical",
        "recursing", "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic", "strange",
        "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled", "upbeat", "vibrant", "vigilant",
        "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen",
    ]
    static let surnames = [
        "agnesi", "albattani", "allen", "archimedes", "babbage", "banach", "bardeen", "bartik", "bell", "bhabha",
        "blackwell", "bohr", "booth", "borg", "bose", "brahmagupta", "brattain", "brown", "carson", "cerf", "chandrasekhar",
        "chebyshev", "clarke", "cohen", "curie", "darwin", "davinci", "dijkstra", "driscoll", "einstein", "elion",
        "engelbart", "euclid", "euler", "faraday", "fermat", "fermi", "feynman", "franklin", "galileo", "gauss",
        "goldberg", "goodall", "haibt", "hamilton", "hawking", "heisenberg", "hermann", "hodgkin", "hoover", "hopper",
        "hypatia", "jackson", "jang", "johnson", "kalam", "kepler", "khorana", "knuth", "kowalevski", "lalande",
        "lamarr", "leakey", "leavitt", "lovelace", "lumiere", "mahavira", "mayer", "mccarthy", "mcclintock", "meitner",
        "mendel", "merkle", "mirzakhani", "morse", "napier", "newton", "nobel", "noether", "pascal", "pasteur", "payne",
        "perlman", "pike", "poincare", "ptolemy", "raman", "ramanujan", "ride", "ritchie", "rosalind", "sammet", "shannon",
        "shaw", "shockley", "sinoussi", "snyder", "spence", "stonebraker", "swanson", "tesla", "thompson", "torvalds",
        "turing", "varahamihira", "villani", "wescoff", "wiles", "williams", "wilson", "wing", "wozniak", "wright", "yalow",
        "yonath",
    ]

    static func generate(retry: Int = 0) -> String {
        let name = adjectives.randomElement()! + "_" + surnames.randomElement()!
        return retry > 0 ? name + String(Int.random(in: 0..<10)) : name
    }
}
