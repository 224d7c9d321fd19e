// The phone page's words in Kazakh, Russian and English. Keys are shared by every language.
const WORDS = {
  ru: {
    subtitle: "доказательства с участка",
    nolink: "Откройте ссылку-приглашение, которую вам прислала коалиция.",
    linkgone: "Эта ссылка больше не действует. Файлы, которые уже в очереди, сохранены на телефоне; попросите новую ссылку.",
    who: "Участок {precinct} · ссылка действует до {expires}",
    kind: "Что это",
    "kind.protocol": "Протокол",
    "kind.violation": "Нарушение",
    "kind.act": "Акт",
    "kind.video": "Видео",
    "kind.other": "Другое",
    precinct: "Участок",
    note: "Заметка (необязательно)",
    photo: "Снять фото",
    video: "Снять видео",
    gallery: "Выбрать из галереи",
    ios: "На iPhone добавьте эту страницу на экран «Домой» (Поделиться → На экран «Домой»): иначе Safari может удалить неотправленные файлы через 7 дней.",
    queue: "Очередь",
    empty: "Пока ничего. Снимите протокол или нарушение: файл сохранится на телефоне и уйдёт, как только будет связь.",
    online: "Связь есть: файлы отправляются.",
    offline: "Нет связи: файлы ждут на телефоне и уйдут сами.",
    "status.hashing": "Считается отпечаток (SHA-256)…",
    "status.pending": "Ждёт отправки",
    "status.uploading": "Отправляется: {percent}%",
    "status.received": "Получено сервером, квитанция готовится",
    "status.receipted": "Принято. Квитанция сохранена.",
    "status.refused": "Не принято: {reason}",
    "status.failed": "Не удалось отправить, повторим: {reason}",
    receipt: "Скачать квитанцию",
    qr: "QR-код квитанции",
    verify: "Проверить квитанцию",
    "iin.label": "Ваш ИИН (необязательно, один раз): на сервере он станет псевдонимом и не сохранится",
    "iin.open": "Указать свой ИИН (необязательно)",
    "iin.save": "Сохранить",
    "iin.bad": "Это не ИИН: 12 цифр, последняя — контрольная. Проверьте опечатку.",
    "iin.saved": "Готово: ваши файлы подписаны псевдонимом {observer}. Сам ИИН не хранится нигде.",
    "iin.offline": "Нужна связь: попробуйте, когда она появится.",
    "iin.taken": "С этой ссылкой ИИН уже указан; попросите у коалиции новую ссылку.",
    "reason.SHA256_MISMATCH": "файл изменился по дороге; отправьте его ещё раз",
    "reason.TOO_LARGE": "файл слишком большой для этого сервера",
    "reason.RATE_LIMITED": "слишком много файлов за час; отправим позже",
    "reason.BAD_METADATA": "неверные данные о файле (участок или заметка)",
    "reason.EMPTY_FILE": "файл пустой",
    "reason.UNAUTHORIZED": "ссылка больше не действует",
    "reason.NETWORK": "нет связи",
    "reason.UNKNOWN": "ошибка сервера",
  },
  kk: {
    subtitle: "учаскедегі дәлелдер",
    nolink: "Коалиция жіберген шақыру сілтемесін ашыңыз.",
    linkgone: "Бұл сілтеме енді жарамсыз. Кезектегі файлдар телефонда сақталған; жаңа сілтеме сұраңыз.",
    who: "№{precinct} учаске · сілтеме {expires} дейін жарамды",
    kind: "Бұл не",
    "kind.protocol": "Хаттама",
    "kind.violation": "Бұзушылық",
    "kind.act": "Акт",
    "kind.video": "Бейне",
    "kind.other": "Басқа",
    precinct: "Учаске",
    note: "Ескертпе (міндетті емес)",
    photo: "Суретке түсіру",
    video: "Бейнеге түсіру",
    gallery: "Галереядан таңдау",
    ios: "iPhone-да бұл бетті «Басты экранға» қосыңыз (Бөлісу → Басты экранға): әйтпесе Safari жіберілмеген файлдарды 7 күннен кейін өшіруі мүмкін.",
    queue: "Кезек",
    empty: "Әзірге ештеңе жоқ. Хаттаманы не бұзушылықты түсіріңіз: файл телефонда сақталады да, байланыс болғанда өзі жіберіледі.",
    online: "Байланыс бар: файлдар жіберілуде.",
    offline: "Байланыс жоқ: файлдар телефонда күтіп тұр, кейін өзі кетеді.",
    "status.hashing": "Саусақ ізі (SHA-256) есептелуде…",
    "status.pending": "Жіберуді күтуде",
    "status.uploading": "Жіберілуде: {percent}%",
    "status.received": "Сервер қабылдады, түбіртек дайындалуда",
    "status.receipted": "Қабылданды. Түбіртек сақталды.",
    "status.refused": "Қабылданбады: {reason}",
    "status.failed": "Жіберілмеді, қайталаймыз: {reason}",
    receipt: "Түбіртекті жүктеп алу",
    qr: "Түбіртектің QR-коды",
    verify: "Түбіртекті тексеру",
    "iin.label": "ЖСН-іңіз (міндетті емес, бір рет): серверде ол бүркеншік атқа айналады және сақталмайды",
    "iin.open": "ЖСН-іңізді көрсету (міндетті емес)",
    "iin.save": "Сақтау",
    "iin.bad": "Бұл ЖСН емес: 12 сан, соңғысы — бақылау саны. Қатені тексеріңіз.",
    "iin.saved": "Дайын: файлдарыңыз {observer} бүркеншік атымен белгіленеді. ЖСН-нің өзі еш жерде сақталмайды.",
    "iin.offline": "Байланыс керек: ол пайда болғанда қайталаңыз.",
    "iin.taken": "Бұл сілтемемен ЖСН бұрын көрсетілген; коалициядан жаңа сілтеме сұраңыз.",
    "reason.SHA256_MISMATCH": "файл жолда өзгерді; қайта жіберіңіз",
    "reason.TOO_LARGE": "файл бұл сервер үшін тым үлкен",
    "reason.RATE_LIMITED": "бір сағатта тым көп файл; кейінірек жібереміз",
    "reason.BAD_METADATA": "файл туралы деректер қате (учаске не ескертпе)",
    "reason.EMPTY_FILE": "файл бос",
    "reason.UNAUTHORIZED": "сілтеме енді жарамсыз",
    "reason.NETWORK": "байланыс жоқ",
    "reason.UNKNOWN": "сервер қатесі",
  },
  en: {
    subtitle: "evidence from the polling station",
    nolink: "Open the invite link the coalition sent you.",
    linkgone: "This link no longer works. Files already in the queue are kept on this phone; ask for a new link.",
    who: "Precinct {precinct} · the link works until {expires}",
    kind: "What it is",
    "kind.protocol": "Protocol",
    "kind.violation": "Violation",
    "kind.act": "Act",
    "kind.video": "Video",
    "kind.other": "Other",
    precinct: "Precinct",
    note: "Note (optional)",
    photo: "Take a photo",
    video: "Record a video",
    gallery: "Choose from the gallery",
    ios: "On an iPhone, add this page to the Home Screen (Share → Add to Home Screen): otherwise Safari may delete files not yet sent after 7 days.",
    queue: "Queue",
    empty: "Nothing yet. Photograph the protocol or a violation: the file is kept on this phone and goes as soon as there is a connection.",
    online: "Online: files are being sent.",
    offline: "Offline: files wait on this phone and will go by themselves.",
    "status.hashing": "Computing its fingerprint (SHA-256)…",
    "status.pending": "Waiting to be sent",
    "status.uploading": "Sending: {percent}%",
    "status.received": "Received by the server; the receipt is being made",
    "status.receipted": "Accepted. The receipt is saved.",
    "status.refused": "Refused: {reason}",
    "status.failed": "Could not send, will retry: {reason}",
    receipt: "Download the receipt",
    qr: "The receipt's QR code",
    verify: "Check the receipt",
    "iin.label": "Your IIN (optional, once): the server turns it into a pseudonym and keeps nothing else",
    "iin.open": "Give your IIN (optional)",
    "iin.save": "Save",
    "iin.bad": "This is not an IIN: 12 digits, the last a check digit. Look for a typo.",
    "iin.saved": "Done: your files are signed with the pseudonym {observer}. The IIN itself is kept nowhere.",
    "iin.offline": "This needs a connection: try again when there is one.",
    "iin.taken": "An IIN was already given with this link; ask the coalition for a new link.",
    "reason.SHA256_MISMATCH": "the file changed on the way; send it again",
    "reason.TOO_LARGE": "the file is too large for this server",
    "reason.RATE_LIMITED": "too many files this hour; they will go later",
    "reason.BAD_METADATA": "the file's details are wrong (precinct or note)",
    "reason.EMPTY_FILE": "the file is empty",
    "reason.UNAUTHORIZED": "the link no longer works",
    "reason.NETWORK": "no connection",
    "reason.UNKNOWN": "a server error",
  },
};

export const LANGUAGES = Object.keys(WORDS);

function initial() {
  const saved = localStorage.getItem("dalel-lang");
  if (saved && WORDS[saved]) return saved;
  const nav = (navigator.language || "ru").slice(0, 2).toLowerCase();
  return WORDS[nav] ? nav : "ru";
}

let current = initial();

export function lang() {
  return current;
}

export function setLang(code) {
  if (WORDS[code]) {
    current = code;
    localStorage.setItem("dalel-lang", code);
    document.documentElement.lang = code;
  }
}

/** The text of `key` in the current language, with {name} filled in from `vars`. */
export function t(key, vars = {}) {
  const text = WORDS[current][key] ?? WORDS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** Put the current language's words into every element marked data-t. */
export function apply(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  for (const b of root.querySelectorAll("[data-lang]"))
    b.setAttribute("aria-pressed", String(b.dataset.lang === current));
}
