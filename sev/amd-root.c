/*
 * The built-in TEST AMD root: an ARK and an ASK (RSA-4096) whose private
 * keys are public knowledge, generated for lkvm with `openssl genpkey`.  The
 * software firmware model is configured to trust this ARK the way real
 * firmware pins AMD's, so that any two lkvm model instances accept each
 * other's certificate chains.  Nothing signed by it proves anything about
 * real hardware; a real platform's chain never validates against it.
 */
#include <errno.h>
#include <string.h>

#include "crypto-internal.h"

static const char test_ark_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIIJQQIBADANBgkqhkiG9w0BAQEFAASCCSswggknAgEAAoICAQDaAqBmK4dZ4arp\n"
	"dFWMt3+guayYjxfNsQ6cCiw6oxfXZqqHedP+i5Gy4wk1ANzWptx79v/j9yxGaJ8u\n"
	"G7oVunnLLhEV+qCsng9eNJjAOfjgud3km/9AfdQDgws72xQafU7N651kZY/qUua0\n"
	"j+KSZjiAbmfvx+jqcAAQYLpZHt6O19ni4bHCLi/UG7z0jk3bVPaUi3SrLrHvq5Mg\n"
	"pniy1mH6K+sOyZwongOBMV8/G5bj9HLUxwjwFJG4PCImdbQl6ooqIFbRIghRRuwF\n"
	"96oH2klssMvk9UEbIlHyFUtb/nhZYmfkaY5EUkMgfu7O3qd/xFAXevPVB1tIE16M\n"
	"RkfZaQqmGlETfLFVj5LDfOpeIEMmHt2BD/RU6INx0xRx8Tcjr1xwv2TcGfMOyIyR\n"
	"yq1TB/gxFl37BXyatfkRPsykm4PBncvKoPntv2d6DH2Nc01jADqwiSYfuuFGjEkt\n"
	"6WPKDP15JTQGrIaJ8pxij43jiNu8NcXF6uLpBq2xuPyVUCamb4sRuRV+hUMteRas\n"
	"RAJeWh220m8f1h1jyl8usETgn4r2NzQws+MEoqM18rz0y3IKcTA5hsHQsztUzHOz\n"
	"zAGInGf6UUaCRs/tX3Lh2WK6X6UM/8758siKEYxiSS+xwPKVxTL+B0/fG6DCZuSn\n"
	"mKcIYtB/cjOMGjakR7+1eyN7Po3eoQIDAQABAoICAAJyjpnvCas25xwNWAuHINnt\n"
	"U7R3wMjooLUcQSBcZd9fcfEo6zobl4RmW5taeeA4Cdgjbv6AbyEQOh9CpO1rBUSE\n"
	"bSEtyeF+OcZxOTjJPdPKCmVvYed3sipi7Xybykc82mZh64etwzaafSgQSHcjyiUY\n"
	"+DY/LIx7Ouj0KQtolw+L+VB8f6oiKhvLvuyQ72tTshv7T9E/KjS6XKG8dLTvRrTQ\n"
	"CujE1ym2kmwAIaVb+i7vdt2QKXfGh1dF540+e4oEbs4nxEm/Q9Ajx3EOtXw2lWXw\n"
	"uy1EGpnDIh/hYNH00qWQPwHXtIbsVIAYJLayVbePvOVyliuxVDNEMmbJQDO+4+Vx\n"
	"qmEvWU8u3Y8n1s6tKqguttICa4wioNO9zDG7YI01YOsapqvcrL2gmtq7OuISEl9L\n"
	"AkYWx+U4aeyQfV22g07xUuicgjksn+WxEdl+W2yvK4+vzNuRFQl2rtE6/J/rs8cH\n"
	"1HzaWks/fA4MXMNajoMlPzjGLg1NLxdCBtzlz0lgBMlN9PTZ89D5YaJSOS6XdASe\n"
	"MpfhBQ8oMNDHQ2xXwOP6niZwtD0eKRzWU7abuP8BduiBexjNSvoOgffOxAKofAgh\n"
	"T2O17rrUdEo6NpoBgLtepbvvwGuvVYmeknm/kz8MoNn8mHTgFjfvl3+ctESLDYhU\n"
	"XGeQETf3l6ymKp8Y8Pv1AoIBAQD//MCpcJtNuVYdA22S0WPa+Loz4x+P4eyYma9m\n"
	"P/hQTgg5gqxEgn2v8eSwZbmTjTZedZlmnj1sQp0Q2kegg1HyVlOVc7tcEFHiaXzv\n"
	"dBFj5Kj2kHyS741JlzzIYLlcBE9841FbBYaJfvIZ3eXISDvTxQNky3yGUohaZtyN\n"
	"hMOlhNltLfDGshUvdpZokPUCXrH5EKDnJ+tdjvXIlQM74kbYsjF7zI1rXwAC2q2Z\n"
	"CxaGXdCFboJPGr7g0KQID+ndIWwRZArNECBXlDcpy5UiYTG1O6N1UiUFZ+rg9yZv\n"
	"Y1W9cCeugDWTNKOCx/jflQlZDfa86MVfHWWI09+Ktvb/AHa1AoIBAQDaBWRnZGF4\n"
	"erEsEkDZhzW9lhBHeajNd2CmoCdVt+aW8bV7Qyv5EXkN/4zNK5KC9uZnru+8n49f\n"
	"D59EgBR56C67bdUxVWvDyHoHnhbhTOisK0hAXgM1puZUbfLv1Am0pQ2cTgj3rugs\n"
	"jeadl7vhJ9RSN7pLWXPmbZ90oyTS6+8I8jAJAiayl2IoL14xNc2tee1f8zchbqrg\n"
	"g69wiGxVOZwkcXMMW8TBaDlDdb30hMvq2hNGh9WbF62sTXHN7G1th5TUGiFr2idC\n"
	"G9d7i5ZI7Oo1OlJoHRUEwhnyJdFTII9+AniYKCMf1RreZM9b8zQ/wHy9vDuQHdfo\n"
	"MLtKL7Vfny+9AoIBAHuS8xqYnpAduSFWZ03pwO+TBKhJqxHVOVbNUevlU6TIlpXU\n"
	"q/6Ck9QczI4O/U/qamWdFYmBOBuL6LCa/trQqf13iO/rp3Wg9zZ6P/KEMGTtnFcy\n"
	"lsCD3cu5s4DzmGeAOTMLtVlgSHsVih/Mi8FshV0MjT/aL2nUa7hgUXYLsjqz8BYR\n"
	"iFsS2sFH2QHvgCc9uWKHkXUlQyyt9551uNLuv86Z7uNZcqdze9jk4cqwnJYOsbvI\n"
	"BiXTvnNepOCzdezm1nlqtwAZGdPNW/fULFElZE6d1KGtHuwGJ0+kX6yD4n8Jpk5J\n"
	"3BMM5SYcDNs54gJYiFTXdXgeA8bSqOYYvxGIksUCggEADHp4h65oIcQr9dDJo2mo\n"
	"usQnBGBDOBdYEdFizvYqnYMSFw7+KlBEtHdm8KtIxHQrNc3+bLZZN2Cmhf4qrduL\n"
	"KTEdHai89US5L0xuFNEZFBmaFg0Lc/usfTKZz/472/oCcGrK+popMbuhcm2n1Dg6\n"
	"X8ZOxFdHWe32TW+1ANl+Ie3yr+FOo7QkaxZi9sAUmJQ88Nvz0NcLsrP2y6MTSEF2\n"
	"3WMc6Z0rAsLbXDAWAjPDlBqNNeE6aZkOWKlKFTYuATHcY9NnDEw9KPx89dZEcMIW\n"
	"mZtP8iOP+2i8oW5mr7JSZCzyCAtsDztcQVRVxfaCjA+RVC683f/HRsPbRGC8qc9r\n"
	"pQKCAQBgOAayBiPQvUF/F+MNzIdWCZ3RRmZKDiOt8/+ucP/+4zvCRhCHketUl4O0\n"
	"Eaj3Qq45O+FDh5mjl3fjhftX7KIO0GYPai+TqSkPx6/QIhuFMr8a4vuRvGqNMk3g\n"
	"pXS7/bxvsReqliXPaLA1WzWSQEOVBIbccbyQTvTgnzlkieTSwAahW6nHq3IEdDte\n"
	"8u/PK7jP1QdNyT/5/5mdgDgRd3mIg81QkHctWDp0pqont7tjQGpiHm74IxzgcC12\n"
	"Cn88UpnNN4kVkiRZnn40orNTXBduPIt5NMmD0QiGULybfeWHPqA5fBz2GdPTirrK\n"
	"WPfZ1lTSudErEfcAWvRHcOHIuJfi\n"
	"-----END PRIVATE KEY-----\n"
	;

static const char test_ask_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIIJQAIBADANBgkqhkiG9w0BAQEFAASCCSowggkmAgEAAoICAQDnI/bOD14BjRtM\n"
	"QAqDtQ2CabqU2rCOuR6bSLpupic49LuEVkp4NuHJWUisOrp0IdMv7mWw4t3HCb+Y\n"
	"+NZMrD1Kv2f2qsw/IuA6il9YpGGgu+1tYCDyRTH69uoyy7CEPLiRBX3R1m0bSM2u\n"
	"V9DSl5pJtO0X2Y+3ury3JxWCGZy43dOOeBT6KcG407mGKK2r+fXX1+HYNrD4X4VX\n"
	"lKt0wHOj4I/o1vVTsI7w+6eBiWGjHV6lTby5y21YDmsLjffN/Idg21QHcFGdGPO+\n"
	"TNY7XKmu+pRzIRYk3WNJCUsfcfwji9tM3lzzPfL2E9BrgW70Y4OYtk7p6gqOU4pg\n"
	"jYAHlQu6oxMqHzgHaJXt99NuMvlSNcv5p1roLXdl7HVsANybxJ3pDa/OU+ohETHb\n"
	"IcMbqzUge0AXu1zn3Pudlguob220rJQr2QjvGuDImLGs+byWGVsHfFg+vdHL2ywS\n"
	"Jqw9oZcs50+9WA/9YJpEpiZTrrJaN/EGwfPY07bR+KlJX2wutOY3ON29oBKoK+lK\n"
	"0hJqw+LYAcTsb4C8j+StTTWyrhJxEcBnJ2qKEmo12XvP3FYo0XIqPUGHF4rgHijG\n"
	"PDU0P1nRYAbqNJOqnoi0yuupROvzhaYHW7bzSpCJUB0OPVeCfWYrGCep4BTus8L2\n"
	"mrJjMNKJUDg6rXjYXnAy9Pm/eoubQQIDAQABAoIB/3RSJQ05A+tul85Hwa2GmsXc\n"
	"GjR52gtOyO2yLCCDKDoBmlzUZaXEo4bbkoxvrGXFSq1Udti4qI5XhD9M+zaazOhR\n"
	"FdY3yOdSezBQHVZUDiMAcFFwOc8IA58eTmjsbmjI0MQq1KbwF6MjgF8SJ9p+G6dR\n"
	"kKqap+Oj66pAgRJ4JpGNERUhrsI2lsdCcJs+MtMuzV9ScCs0sDBOjKGxWpfm7PYL\n"
	"4mB1zVXQr3RB29/Uw3jTJE5hphiFHQII6itmcXm4cb4h9/0bs/bbbSQtMaMDfwwQ\n"
	"DvqMLBi2psCawgjmftK6D3h1GfylBcsmgueXZmnsVXhaRwcblom0gRnAxthfVFwj\n"
	"3kchKElpRh1Ap/7v50/IG2zUVqJ88Kr5YGK/exS+EyeENKIM20uEHIzD6ehHclWj\n"
	"NFJVyxPyGDsCVr4XPb2bGdQK4Hedj1kmHDFyvpdolzia7ptvtZ1ODXx1HUppbAEB\n"
	"0yqfDYLzkayxBnRewmJcd8PUsYQEv2/bqSPZgAJMkTjWjtlSmt0OoiQnSqsMLFwk\n"
	"upuvx0V3F65bNwsrAAT5MTB0B9m1q6xUwuwt2w1KopEmA4mbJDc7SzmnMS1FYdrE\n"
	"iYNnloeJlkSwEhfbYQjcXM1e4kUpiED3FUhGrPpamXpNs9GudM39ZVz8q/b+ClpF\n"
	"+XLyAfSuZERRlUbKYU8CggEBAPSPisMwm2ZfEUoMX+Qry/sZ6hSnOanfzKzi1O6P\n"
	"xKe50jep/mGq4oO9wcfsX4BMJGxaJmEFCJZMvTwsQHz2dL+6IeFd21MHwPzlPlqJ\n"
	"LoOf64zPmjTrgSPnJq8LdOwuOSC5cGEhnYAcDWMdleQqYPO8xXseON0cO69MYGMZ\n"
	"HVwVYVvGPo+8NccfUvTB0WbY7k4EYXRyfPfipBm5VrGT0Nqmynl2U2dAHpvo3fmi\n"
	"4PNZn9GrC5CvWrh71I6knXeN9kY0ssKmddpZq3GE7lZT1S14Qluwi7D5QJBDEw5z\n"
	"/ahkImsmrQoNkIFdwsA7650Hj/BvwTdIH04qPfeV2SoL/CcCggEBAPHzuTIZJAHD\n"
	"OwMD1H9axhwOtfM2kWJTZcFOUJ1UIoJAsVCBYCmTAjM6V9tmyQgYcsicgKyT/PA7\n"
	"8F9dame8I2quyRpdj/zINjiHMuTfNPEa5JIrKO+ZBsvNHh4CpouXJz/OlkL/VPCP\n"
	"hJIeo9YHTXomGEeUW1HQ/RKGT6FNt/8/E1HFp7Rcs1BDHbYJwBl2ZEVLIyinAS34\n"
	"eOjYoBwzaEyJjs/1mOHEUi/LZz2NZgsYfZp0VTQJ6KvdtoCwY4Vxhq8Q6bvos1uh\n"
	"rbrBk6ptR+1puEiDpB0hOIbhxNGUhm3bnuRInAgm230siDR5NlctT4TjMG5UBi8L\n"
	"cRguuNzwBlcCggEAcwU7xxeKTvhxYjk1tFOg6SVEAZiwtyOJ2NoKOXUmkZgEtade\n"
	"+8JqLHnHtOaH+AhXrRotKL48Tqwi6DUL03n6aN3650rER2XDL24GCICyfrdtClnt\n"
	"dew5XZBuki86O4Z12d09bIFp2QHYjgAxKhGAbcIfwwrwxZVswMKUJqd+NnvbwVUY\n"
	"wXNMe61Qz8qEWPG4CrtmtmTOP6u5cFvJ2VTjCqMdYUj0awAuJTe9hpZDZFCHqQ3g\n"
	"L5k5esDKtJfZc4wyAszwMjol/Z7k0kwp6DIfdfY0h3keCgsAgZj6UnbdGyCVS33y\n"
	"LmM4zo8xdEX6R21yFiwJXJ2wE4wsftBcRblDSwKCAQAM2e43TACOm2kSAu0RiqfF\n"
	"K77cWUSlnVplRxyfDq36jycb6JNMAgP25p1uCOqapHnMUAvBnuard/OPjS2urt6O\n"
	"txP1c4zHV3cRz5STdYuhVtVXMjWtbEphHtb/rxJbjb7G89klW9yOHoFjJX98Sc0C\n"
	"tO1LOAUVtm0Kw9mM7szcIOSMzlvXB6l6lOYKGkB62b//sjr+2MgGQhFiBMeUV+Kt\n"
	"Vg0g3KGvNDdNVJd6PH10D2v0fUNdTT1vi4o7EaNnnh0SRWq00WpdbpwEtG18eut8\n"
	"H8ZrC5r29SHEgE9s9l+hjC3HYFfxUucLogbmCp4pST3VCCA1a/8cFpZ+O1UUXydn\n"
	"AoIBADlvSpamF8t/vT3gBpXAN9gHDcmQbp/tgKijjsHpaMCneFuza9L+/JpiHYtZ\n"
	"xEafLxynB26Was18YGz6MsMppYm9tweNG7EWlK51o53+d0LZk4Tw4vTy4NdLhmcL\n"
	"YV9aDEAsR73nR5MJtgO76nFTWdRPzykllquX6yKsMfmDHRosMjrAQHRQtCxLnbkX\n"
	"VIgIZgAnE3HPICW718nAvMWR2bQ62EZqgY3YdMdihuuxeT+fLsPHzI1VKpoEXLxq\n"
	"/zNDBlYol91TjcsOqzF2fvCf8AKCfkE9Bmb1rN3vfm0myM39tGepsYBfceHA3y5s\n"
	"gsfCCRPvoWEep/Ey1mr9sApiixI=\n"
	"-----END PRIVATE KEY-----\n"
	;

/* Key ids: ASCII tags, so the test root is recognisable in a hex dump. */
static const u8 test_ark_id[16] = "lkvm-test-ARK-01";
static const u8 test_ask_id[16] = "lkvm-test-ASK-01";

static int make_root(struct sev_amd_root *root, const u8 ark_id[16], const u8 ask_id[16])
{
	int ret;

	ret = sev_amd_cert__init(&root->ark_cert, SEV_USAGE_ARK, ark_id, ark_id, root->ark) ?:
	      sev_amd_cert__sign(&root->ark_cert, root->ark) ?:
	      sev_amd_cert__init(&root->ask_cert, SEV_USAGE_ASK, ask_id, ark_id, root->ask) ?:
	      sev_amd_cert__sign(&root->ask_cert, root->ark);
	if (ret)
		sev_amd_root__free(root);
	return ret > 0 ? -EINVAL : ret;
}

int sev_amd_root__test(struct sev_amd_root *root)
{
	int ret;

	memset(root, 0, sizeof(*root));
	ret = sev_key__from_pem(test_ark_pem, sizeof(test_ark_pem) - 1, &root->ark) ?:
	      sev_key__from_pem(test_ask_pem, sizeof(test_ask_pem) - 1, &root->ask);
	if (ret) {
		sev_amd_root__free(root);
		return ret;
	}
	return make_root(root, test_ark_id, test_ask_id);
}

bool sev_amd_root__is_test_ark(const struct sev_amd_cert *ark)
{
	EVP_PKEY *test = NULL, *pub = NULL;
	bool same;

	if (memcmp(&ark->hdr.key_id_0, test_ark_id, 8) ||
	    memcmp(&ark->hdr.key_id_1, test_ark_id + 8, 8))
		return false;
	/* The name alone could be anyone's: the key must be the published one. */
	same = !sev_key__from_pem(test_ark_pem, sizeof(test_ark_pem) - 1, &test) &&
	       !sev_amd_cert__pubkey(ark, &pub) && sev__same_pubkey(test, pub);
	EVP_PKEY_free(test);
	EVP_PKEY_free(pub);
	return same;
}

int sev_amd_root__generate(struct sev_amd_root *root, unsigned int rsa_bits)
{
	u8 ark_id[16], ask_id[16];
	int ret;

	memset(root, 0, sizeof(*root));
	if (rsa_bits != 2048 && rsa_bits != 4096)
		return -EINVAL;
	ret = sev_random(ark_id, sizeof(ark_id)) ?: sev_random(ask_id, sizeof(ask_id));
	if (ret)
		return ret;
	root->ark = sev_key__gen_rsa(rsa_bits);
	root->ask = sev_key__gen_rsa(rsa_bits);
	if (!root->ark || !root->ask) {
		sev_amd_root__free(root);
		return -ENOMEM;
	}
	return make_root(root, ark_id, ask_id);
}

int sev_amd_root__write_chain(const struct sev_amd_root *root, void *buf, size_t *len)
{
	size_t a, b;
	int ret;

	ret = sev_amd_cert__write(&root->ask_cert, buf, *len, &a);
	if (ret)
		return ret;
	ret = sev_amd_cert__write(&root->ark_cert, (u8 *)buf + a, *len - a, &b);
	if (ret)
		return ret;
	*len = a + b;
	return 0;
}

void sev_amd_root__free(struct sev_amd_root *root)
{
	EVP_PKEY_free(root->ark);
	EVP_PKEY_free(root->ask);
	memset(root, 0, sizeof(*root));
}
